package asu_test

import (
	"context"
	"fmt"
	"net/http/httptest"

	"github.com/pickmyclass/pickmyclass/pkg/catalog"
	"github.com/pickmyclass/pickmyclass/pkg/catalog/asu"
	"github.com/pickmyclass/pickmyclass/pkg/catalog/asusim"
)

// A Client pointed at the simulated catalog, as tests and the demo use it.
func ExampleClient_Course() {
	srv := httptest.NewServer(asusim.New(asusim.Scenario{Sections: []asusim.SectionSpec{
		{Term: "2267", ClassNbr: "70412", Subject: "CSE", CatalogNbr: "240", Section: "1002", Title: "Intro to Programming Languages", Capacity: 150, Enrolled: 150},
		{Term: "2267", ClassNbr: "70413", Subject: "CSE", CatalogNbr: "240", Section: "1003", Title: "Intro to Programming Languages", Capacity: 90, Enrolled: 88,
			Instructors: []catalog.Instructor{{Name: "Ada Lovelace", ID: "alovela1"}}},
	}}))
	defer srv.Close()

	c, err := asu.New(asu.Config{BaseURL: srv.URL + asusim.BasePath})
	if err != nil {
		panic(err)
	}
	sections, err := c.Course(context.Background(), catalog.CourseKey{Term: "2267", Subject: "CSE", CatalogNbr: "240"})
	if err != nil {
		panic(err)
	}
	for _, s := range sections {
		fmt.Printf("%s %s: %d open, %s, %s\n", s.Key(), s.SectionCode, s.OpenSeats(), s.InstructorNames(), asu.ClassURL(s.Term, s.ClassNbr))
	}
	// Output:
	// 2267:70412 1002: 0 open, Staff, https://catalog.apps.asu.edu/catalog/classes/classlist?campusOrOnlineSelection=A&classNbr=70412&honors=F&promod=F&searchType=all&term=2267
	// 2267:70413 1003: 2 open, Ada Lovelace, https://catalog.apps.asu.edu/catalog/classes/classlist?campusOrOnlineSelection=A&classNbr=70413&honors=F&promod=F&searchType=all&term=2267
}
