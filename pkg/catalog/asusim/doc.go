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
// built with Generate:
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
//	    "campus": "TEMPE", "location": "PSH153", "online": false
//	  }]
//	}
//
// status is "open", "closed" or "cancelled"; left empty it follows the seats
// (closed when enrolled >= capacity). An empty instructor list is "Staff".
// A term used by a section but missing from terms is listed anyway.
//
// # Control
//
// Tests drive the simulation with Server's methods; the demo and benchmarks
// use the same operations over HTTP, all POST with a JSON body:
//
//	POST /_sim/seats        {"term","class_nbr","enrolled"?,"capacity"?}
//	POST /_sim/instructors  {"term","class_nbr","instructors":[{"name","id"}]}
//	POST /_sim/status       {"term","class_nbr","status"}
//	POST /_sim/sections     a section object as in the scenario (added or replaced)
//	POST /_sim/remove       {"term","class_nbr"}
//	POST /_sim/faults       {"kind":"status","status":429,"retry_after_seconds":30,"count":2}
//	                        {"kind":"delay","delay_ms":1500,"count":0}
//	                        {"kind":"malformed","count":1}
//	POST /_sim/faults/clear {}
//	POST /_sim/latency      {"latency_ms":50}
//	GET  /_sim/state        counters, faults and (unless ?sections=0) every section
//
// A fault applies to the next count API requests, or until cleared when
// count is 0; the oldest active fault applies first. Latency delays every API
// request. Control requests are not counted as API requests.
package asusim
