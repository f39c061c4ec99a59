package soak

import (
	"os"
	"slices"
	"strings"
	"testing"
)

// The known go-zookeeper race is told apart from any other race, which
// fails the run with its two accesses named; panics fail it too.
func TestScanLog(t *testing.T) {
	zkRace, err := os.ReadFile("testdata/zk-lastzxid-race.txt")
	if err != nil {
		t.Fatal(err)
	}
	other := strings.NewReplacer("(*Conn).recvLoop()", "(*Conn).authenticate()").Replace(string(zkRace))
	log := `{"level":"INFO","msg":"started"}` + "\n" + string(zkRace) + other + "panic: boom\n"
	problems, known := ScanLog(strings.NewReader(log))
	if !slices.Equal(known, []string{KnownRaces[0].Name}) {
		t.Errorf("known races %v", known)
	}
	if len(problems) != 2 || !strings.Contains(problems[0], "authenticate() vs github.com/go-zookeeper/zk.(*Conn).sendSetWatches()") ||
		problems[1] != "panic: boom" {
		t.Errorf("problems %q", problems)
	}
	if p, k := ScanLog(strings.NewReader(`{"level":"INFO"}` + "\n")); p != nil || k != nil {
		t.Errorf("a clean log: %v %v", p, k)
	}
}
