// Package asusim is a simulated ASU class search: an http.Handler that speaks
// the same JSON API as the real catalog (GET …/search/classes and
// …/search/terms, 401 unless "Authorization: Bearer null", 200 rows per page
// behind a scrollId cursor, CLAS objects with string fields and top-level
// seatInfo ints), so pkg/catalog/asu can be tested, demonstrated and
// benchmarked without reaching ASU. It keeps its catalog in memory and is
// safe for concurrent use.
//
// # Scenario
//
// A catalog is described by a Scenario, loaded from JSON with LoadScenario or
// built with Generate (courses of equal size) or GenerateTerm (a whole term
// shaped like a large university's, for walks):
//
//	{
//	  "terms": [{"code": "2267", "name": "Fall 2026"}],
//	  "sections": [{
//	    "term": "2267", "class_nbr": "70412",
//	    "subject": "CSE", "catalog_nbr": "240", "section": "1002",
//	    "title": "Introduction to Programming Languages",
//	    "capacity": 150, "enrolled": 150,
//	    "instructors": [{"name": "Ada Lovelace", "id": "alovela1"}],
//	    "reserved": false,
//	    "status": "",
//	    "days": "M W", "start_time": "1:30 PM", "end_time": "2:45 PM",
//	    "campus": "TEMPE", "location": "PSH153", "online": false,
//	    "component": "LEC", "association": "1002", "enroll_deadline": "2026-08-26"
//	  }],
//	  "enroll_deadlines": {"2267": "2026-08-26"}
//	}
//
// A section may also carry "reserved_groups": [{"name", "capacity",
// "enrolled"}], the seats held for some students (part of its capacity and
// enrollment, as on ASU), served by GET …/search/reservedseatsadditionalinfo
// as [{"descr","enrlCap","enrlTot"}] when "reserved" is set. That endpoint
// wants term, classNbr, crseId, sessionCode, classType, acadCareer,
// crseOfferNbr and classSection, answers 400 when one is missing or crseId
// or classSection does not match the class search's, and 404 for an unknown
// section; it is counted and faulted like every API request.
//
// status is "open", "closed" or "cancelled"; left empty it follows the seats
// (closed when enrolled >= capacity). An empty instructor list is "Staff".
// A term used by a section but missing from terms is listed anyway.
//
// # Linked components and deadlines
//
// component is "LEC" (the default), "LAB", "REC", "DIS", "SEM" or "STU";
// association is the section code of the lecture a lab or recitation goes
// with (by default a section's own code). Rows carry them as upstream does,
// in CLAS: SSRCOMPONENT, ASSOCIATEDCLASS, and for every section of a course
// SSR, its components in words ("Lecture, Laboratory"), and
// COMPONENTPRIMARY, the course's primary component as PeopleSoft's course
// catalog names it ("LEC" when it has lectures): the adapter takes a section
// whose SSRCOMPONENT is that code for the one students enroll in. Adding or
// removing a lab updates its course's rows.
//
// Every row carries ENROLLDEADLINE ("2026-08-26 00:00:00.0"): the section's
// enroll_deadline, else its term's (enroll_deadlines, or set later), else
// the day DefaultEnrollWindow (90 days) after the server started, so no
// section's enrollment closes unless a scenario or a test says so.
//
// Generate and GenerateTerm make about one course in four (of two sections
// or more) lectures with 1 to 3 labs or recitations each.
//
// # Searches and walks
//
// A class search answers in catalog order (term, subject, catalog number,
// section, class number), PageSize rows a page, with total.value counting
// every match. A search by class number, by course, by subject
// (subject=CSE, no catalogNbr) or by term alone is served from an index;
// other filters scan.
//
// As on the real Elasticsearch-backed API, a search's first page opens a
// scroll context and its scrollId reads the next page:
//
//   - The context is a snapshot taken at the first page: the matching
//     sections and their data (seats, status, instructors) as they were
//     then, as an Elasticsearch scroll sees the index as of its search. A
//     change made during a walk shows in the next search, not in this walk;
//     total.value is the snapshot's count on every page.
//   - The scrollId stays the same for the whole walk and each request with
//     it reads the next page (it is not idempotent: asking twice reads two
//     pages).
//   - A context lives DefaultScrollKeepAlive (60 s) after its latest page
//     (SetScrollKeepAlive); the page that completes the walk drops it, and
//     a search answered in full by its first page keeps none.
//   - At most DefaultMaxScrolls (10,000) contexts live at once
//     (SetMaxScrolls); opening one more evicts the least recently read.
//   - A scrollId with no live context (expired, evicted, finished, from
//     before a restart) answers 404 {"error":"No search context found"}; a
//     scrollId that is not one of the simulator's answers 400.
//   - ExpireScrolls drops every context, to fail a walk mid-way.
//
// State counts what walks cost: first pages, scroll pages, scroll misses,
// rows (sections) served and body bytes. It also counts class searches by
// what they asked for (CourseSearches, ScanSearches): a course
// ("2267:CSE:240"), a subject walk ("2267:CSE:*"), a term walk ("2267:*"),
// a class number ("2267:70412"); every request for a search's first page
// counts, refused or faulted ones too, and a walk's scroll pages do not.
//
// # Control
//
// Tests drive the simulation with Server's methods; the demo and benchmarks
// use the same operations over HTTP, all POST with a JSON body:
//
//	POST /_sim/seats        {"term","class_nbr","enrolled"?,"capacity"?}
//	POST /_sim/instructors  {"term","class_nbr","instructors":[{"name","id"}]}
//	POST /_sim/status       {"term","class_nbr","status"}
//	POST /_sim/reserved     {"term","class_nbr","groups":[{"name","capacity","enrolled"}]} (flag set when any)
//	POST /_sim/sections     a section object as in the scenario (added or replaced)
//	POST /_sim/remove       {"term","class_nbr"}
//	POST /_sim/deadline     {"term","class_nbr","enroll_deadline":"2026-08-26"} a section's last day to enroll
//	                        ("" gives back its term's); without class_nbr, the term's
//	GET  /_sim/searches?term=2267&subject=CSE&catalogNbr=240
//	                        {"key":"2267:CSE:240","searches":3}: class searches that asked
//	                        for this (the API's own parameters; see State.Searches)
//	POST /_sim/faults       {"kind":"status","status":429,"retry_after_seconds":30,"count":2}
//	                        {"kind":"delay","delay_ms":1500,"count":0}
//	                        {"kind":"malformed","count":1}
//	                        {"kind":"truncated","page":3,"rows":50,"count":1}
//	                        {"kind":"status","status":503,"endpoint":"reservedseatsadditionalinfo"}
//	POST /_sim/faults/clear {}
//	POST /_sim/latency      {"latency_ms":50}
//	POST /_sim/scrolls      {"keep_alive_ms":60000,"max_scrolls":10000} (either)
//	POST /_sim/scrolls/expire {}
//	GET  /_sim/state        counters, faults and (unless ?sections=0) every section
//
// A fault applies to the next count API requests it matches, or until
// cleared when count is 0; the oldest matching fault applies first. With a
// page (1 = a search's first page, 2 = its first scroll page, ...) it matches
// only that page of class searches, so a test can fail page 3 of a walk;
// with an endpoint ("classes", "terms", "reservedseatsadditionalinfo") only
// requests to it; a
// failed page does not move the walk on, so a retry reads it again. A
// truncated fault answers a page with fewer rows than it should carry
// (rows, by default half) in well-formed JSON while total.value counts them
// all, as Elasticsearch's partial results do when shards fail: the walk
// moves past the whole page and the missing rows are lost to it. A
// malformed fault cuts the body mid-JSON. Latency delays every API request.
// Control requests are not counted as API requests.
package asusim
