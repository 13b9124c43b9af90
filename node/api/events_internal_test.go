package api

import (
	"strings"
	"testing"

	"connectrpc.com/connect"

	pb "github.com/govnode/govnode/proto/govnode/v1"
)

func recEvent(typ, dept, subj string) *pb.Event {
	return &pb.Event{Kind: &pb.Event_Record{Record: &pb.RecordEvent{RecordType: typ, DepartmentId: dept, SubjectId: subj}}}
}

// The stream's filters: each list is an "any of", the lists together an
// "all of"; with a filter set, events that are not about records go.
func TestEventFilter(t *testing.T) {
	f, err := newEventFilter(&pb.StreamEventsRequest{RecordTypes: []string{"birth_certificate", "land_title"}, SubjectIds: []string{"cit0"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ev   *pb.Event
		want bool
	}{
		{recEvent("birth_certificate", "dept1", "cit0"), true},
		{recEvent("land_title", "dept2", "cit0"), true},
		{recEvent("birth_certificate", "dept1", "cit1"), false},
		{recEvent("business_license", "dept1", "cit0"), false},
		{&pb.Event{Kind: &pb.Event_Grant{Grant: &pb.GrantEvent{GrantorId: "cit0"}}}, false},
	} {
		if got := f.match(tc.ev); got != tc.want {
			t.Errorf("%v: match %v, want %v", tc.ev, got, tc.want)
		}
	}
	all, err := newEventFilter(&pb.StreamEventsRequest{})
	if err != nil || !all.match(&pb.Event{Kind: &pb.Event_Grant{Grant: &pb.GrantEvent{}}}) {
		t.Fatalf("no filter: %v", err)
	}
	dept, _ := newEventFilter(&pb.StreamEventsRequest{DepartmentIds: []string{"dept1"}})
	if !dept.match(recEvent("x", "dept1", "a")) || dept.match(recEvent("x", "dept2", "a")) {
		t.Fatal("department filter")
	}

	for name, req := range map[string]*pb.StreamEventsRequest{
		"33 types":     {RecordTypes: make([]string, 33)},
		"bad subject":  {SubjectIds: []string{"a b"}},
		"empty dept":   {DepartmentIds: []string{""}},
		"control char": {RecordTypes: []string{"x\x00"}},
	} {
		_, err := newEventFilter(req)
		if connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), "_") {
			t.Errorf("%s: %v, want invalid_argument naming the field", name, err)
		}
	}
}
