package web

import "strings"

// commonPasswords are among the most used passwords in public breach
// corpora (the SecLists top lists) that pass the length rule; attackers try
// them first.
var commonPasswords = func() map[string]bool {
	m := map[string]bool{}
	for _, p := range strings.Fields(`
12345678 123456789 1234567890 password password1 password12 password123 passw0rd p@ssw0rd
qwertyuiop qwerty123 qwerty12 1q2w3e4r 1q2w3e4r5t 1qaz2wsx zaq12wsx q1w2e3r4 asdfghjkl
iloveyou iloveyou1 11111111 00000000 12341234 87654321 88888888 12121212 123123123
abcd1234 abc12345 abcdefgh football baseball basketball superman batman123 starwars
sunshine princess welcome1 welcome123 letmein1 trustno1 dragon123 monkey123 shadow123
master123 michael1 jennifer jordan23 computer internet whatever freedom1 corvette
mercedes samantha charlie1 liverpool chelsea1 arsenal1 changeme changeme1 secret123
administrator admin123 admin1234 root1234 default1 student1 student123 college1
university asu12345 sundevils sundevil forksup1 arizona1 phoenix1 tempe123
pickmyclass pickmyclass1 letmein123 loveyou1 football1 baseball1 soccer12 hockey12
michelle jessica1 ashley12 daniel12 matthew1 anthony1 andrew12 joshua12 hunter12
killer12 pokemon1 minecraft fortnite1 123qweasd qweasdzxc 1qazxsw2 zxcvbnm1 asdf1234
`) {
		m[p] = true
	}
	return m
}()

func isCommonPassword(pw string) bool { return commonPasswords[strings.ToLower(pw)] }
