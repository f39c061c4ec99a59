package soak

import (
	"bufio"
	"io"
	"strings"
)

// KnownRace names a data race the soak reports but does not fail on: one
// outside healer, known upstream, that healer cannot fix without a fork.
type KnownRace struct {
	Name string
	// Frames are the first frame of each of the race's two accesses, in
	// either order.
	Frames [2]string
}

// KnownRaces: go-zookeeper v1.0.4 reads Conn.lastZxid in sendSetWatches
// while recvLoop writes it, on every reconnection of a connection with
// watches (samuel/go-zookeeper#178 and #260, go-zookeeper/zk#35, unfixed in
// the latest release). Both healer's elector and its master detection
// reconnect with watches whenever ZooKeeper comes back.
var KnownRaces = []KnownRace{{
	Name:   "go-zookeeper Conn.lastZxid (go-zookeeper/zk#35)",
	Frames: [2]string{"github.com/go-zookeeper/zk.(*Conn).recvLoop()", "github.com/go-zookeeper/zk.(*Conn).sendSetWatches()"},
}}

// ScanLog reads a process's log for what must fail a run: data races,
// panics and fatal errors, each as its first line; data races that are
// known (KnownRaces) are returned apart, by name.
func ScanLog(r io.Reader) (problems, known []string) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var race []string // the lines of the race being read
	inRace := false
	endRace := func() {
		if name := knownRace(race); name != "" {
			known = append(known, name)
		} else {
			problems = append(problems, "WARNING: DATA RACE: "+strings.Join(firstFrames(race), " vs "))
		}
		race, inRace = nil, false
	}
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.Contains(line, "WARNING: DATA RACE"):
			if inRace {
				endRace()
			}
			inRace = true
		case inRace && strings.HasPrefix(line, "=================="):
			endRace()
		case inRace:
			race = append(race, line)
		case strings.HasPrefix(line, "panic:") || strings.Contains(line, "fatal error:"):
			problems = append(problems, line)
		}
	}
	if inRace {
		endRace()
	}
	return problems, known
}

// firstFrames are the first frame of each access a race report lists
// ("Write at", "Read at", "Previous ... at").
func firstFrames(race []string) []string {
	var out []string
	for i, l := range race {
		if strings.HasSuffix(l, ":") && strings.Contains(l, " at 0x") && i+1 < len(race) {
			out = append(out, strings.TrimSpace(race[i+1]))
		}
	}
	return out
}

func knownRace(race []string) string {
	f := firstFrames(race)
	if len(f) != 2 {
		return ""
	}
	for _, k := range KnownRaces {
		if f[0] == k.Frames[0] && f[1] == k.Frames[1] || f[0] == k.Frames[1] && f[1] == k.Frames[0] {
			return k.Name
		}
	}
	return ""
}
