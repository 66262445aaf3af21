package asusim

import (
	"cmp"
	"fmt"
	"math"
	"math/rand"
	"slices"
	"strconv"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
	"github.com/pickmyclass/pickmyclass/pkg/catalog/asu"
)

// termHead are real ASU subject codes, biggest first: GenerateTerm gives
// the largest subjects these names (the first three always in this order,
// the rest shuffled by the seed), then invents codes for the long tail.
var termHead = []string{
	"MAT", "ENG", "CSE", "BIO", "CHM", "PSY", "PHY", "ECN", "ACC", "MKT", "HST", "COM", "SOC", "POS", "MUS",
	"ART", "SPA", "EEE", "MAE", "CEE", "IEE", "FIN", "MGT", "NUR", "KIN", "JMC", "PHI", "REL", "GLG", "SES",
}

var (
	titleStems = []string{"Introduction to", "Principles of", "Foundations of", "Topics in", "Advanced", "Seminar in", "Methods of", "Applied"}
	titleWords = []string{"Analysis", "Design", "Systems", "Theory", "Practice", "Research", "Modeling", "Communication", "Data", "Policy", "Ethics", "Structures"}
)

// GenerateTerm builds a synthetic term shaped like a large university's:
// exactly sections sections (at least one) in subjects subjects (clamped to
// 1 .. sections), deterministic for a seed.
//
//   - Subject sizes follow Zipf's law (the subject of rank k gets a share
//     proportional to 1/k), so a few subjects are huge (for 20,000 sections
//     in 300 subjects: MAT about 3,200, ENG 1,600, CSE 1,060) and the tail
//     is long (the smallest about 10). Every subject has at least one section.
//   - Subject codes are three uppercase letters, unique: real ASU codes for
//     the biggest, invented ones after.
//   - Courses hold 1 to 8 sections each (uniformly), with distinct
//     three-digit catalog numbers in 100..999 (sequential from 100 for a
//     subject too big to fit).
//   - Every section is full (enrolled = capacity, capacity 20 to 300), so an
//     opened seat is a visible change. About one in eight is "Staff", one in
//     twenty online.
//   - About one course in four with two sections or more is lectures with
//     1 to 3 labs or recitations each (see linkComponents).
//   - Sections come in catalog order (subject, catalog number, section),
//     with class numbers from 10000 up in that order.
func GenerateTerm(term string, sections, subjects int, seed int64) Scenario {
	sc := Scenario{Terms: []catalog.Term{{Code: term, Name: asu.TermName(term)}}}
	if sections < 1 {
		return sc
	}
	subjects = min(max(subjects, 1), sections)
	rng, links := rand.New(rand.NewSource(seed)), linkRand(seed)
	codes := subjectCodes(rng, subjects)
	sizes := zipfSizes(sections, subjects)
	sc.Sections = make([]SectionSpec, 0, sections)
	for i, subject := range codes {
		courses := courseSizes(rng, sizes[i])
		for j, nbr := range catalogNumbers(rng, len(courses)) {
			title := titleStems[rng.Intn(len(titleStems))] + " " + titleWords[rng.Intn(len(titleWords))]
			first := len(sc.Sections)
			for k := range courses[j] {
				capacity := 20 + rng.Intn(29)*10
				s := SectionSpec{
					Term: term, Subject: subject, CatalogNbr: nbr,
					Section: fmt.Sprintf("%04d", k+1), Title: title,
					Capacity: capacity, Enrolled: capacity,
					Reserved: rng.Intn(10) == 0,
					Campus:   "TEMPE",
				}
				if rng.Intn(8) != 0 {
					s.Instructors = []catalog.Instructor{genPeople[rng.Intn(len(genPeople))]}
				}
				if rng.Intn(20) == 0 {
					s.Online, s.Campus = true, "ONLNE"
				} else {
					slot := genSlots[rng.Intn(len(genSlots))]
					s.Days, s.StartTime, s.EndTime = slot.days, slot.start, slot.end
					s.Location = genRooms[rng.Intn(len(genRooms))]
				}
				sc.Sections = append(sc.Sections, s)
			}
			linkComponents(links, sc.Sections[first:])
		}
	}
	slices.SortStableFunc(sc.Sections, func(a, b SectionSpec) int {
		return cmp.Or(cmp.Compare(a.Subject, b.Subject), cmp.Compare(a.CatalogNbr, b.CatalogNbr), cmp.Compare(a.Section, b.Section))
	})
	for i := range sc.Sections {
		sc.Sections[i].ClassNbr = strconv.Itoa(10000 + i)
	}
	return sc
}

// subjectCodes returns n unique three-letter codes, biggest subject first.
func subjectCodes(rng *rand.Rand, n int) []string {
	head := slices.Clone(termHead)
	rng.Shuffle(len(head)-3, func(i, j int) { head[i+3], head[j+3] = head[j+3], head[i+3] })
	codes := head[:min(n, len(head))]
	seen := make(map[string]bool, n)
	for _, c := range codes {
		seen[c] = true
	}
	for len(codes) < n {
		b := []byte{byte('A' + rng.Intn(26)), byte('A' + rng.Intn(26)), byte('A' + rng.Intn(26))}
		if c := string(b); !seen[c] {
			seen[c] = true
			codes = append(codes, c)
		}
	}
	return codes
}

// zipfSizes splits total into n sizes proportional to 1/rank, each at least
// one, summing exactly to total (n <= total).
func zipfSizes(total, n int) []int {
	weights := make([]float64, n)
	sum := 0.0
	for i := range n {
		weights[i] = 1 / float64(i+1)
		sum += weights[i]
	}
	sizes := make([]int, n)
	left := total - n // one each first, then the rest by weight
	given := 0
	for i, w := range weights {
		sizes[i] = 1 + int(math.Floor(w/sum*float64(left)))
		given += sizes[i]
	}
	// Flooring leaves a remainder smaller than n: one more to each of the
	// biggest subjects keeps them in order.
	for i := 0; given < total; i++ {
		sizes[i%n]++
		given++
	}
	return sizes
}

// courseSizes splits a subject's n sections into courses of 1 to 8.
func courseSizes(rng *rand.Rand, n int) []int {
	var out []int
	for n > 0 {
		k := min(1+rng.Intn(8), n)
		out = append(out, k)
		n -= k
	}
	return out
}

// catalogNumbers returns n distinct catalog numbers in increasing order.
func catalogNumbers(rng *rand.Rand, n int) []string {
	const lo, span = 100, 900
	nums := make([]int, n)
	if n <= span {
		copy(nums, rng.Perm(span)[:n])
		slices.Sort(nums)
	} else {
		for i := range nums {
			nums[i] = i
		}
	}
	out := make([]string, n)
	for i, v := range nums {
		out[i] = strconv.Itoa(lo + v)
	}
	return out
}

// linkRand returns the generator that picks linked components: apart from
// the one that builds the sections, so a seed gives the same sections
// (seats, instructors, times) whichever courses get labs.
func linkRand(seed int64) *rand.Rand { return rand.New(rand.NewSource(seed ^ 0x1ab5)) }

// linkComponents makes about one course in four of two sections or more
// (secs, in section order) lectures with labs or recitations: each lecture
// is followed by 1 to 3 sections of one kind (LAB or REC for the whole
// course) that share its association, so every lecture has at least one.
// Other courses are left as they are: lectures alone.
func linkComponents(rng *rand.Rand, secs []SectionSpec) {
	if len(secs) < 2 || rng.Intn(4) != 0 {
		return
	}
	kind := []string{"LAB", "REC"}[rng.Intn(2)]
	for i := 0; i < len(secs); {
		lecture := secs[i].Section
		secs[i].Component, secs[i].Association = "LEC", lecture
		rest := len(secs) - i - 1
		n := min(1+rng.Intn(3), rest)
		if rest-n == 1 { // a lone last section would be a lecture without labs
			if n < 3 {
				n++
			} else {
				n--
			}
		}
		for j := i + 1; j <= i+n; j++ {
			secs[j].Component, secs[j].Association = kind, lecture
		}
		i += n + 1
	}
}
