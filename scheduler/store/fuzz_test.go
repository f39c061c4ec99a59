package store

import (
	"errors"
	"reflect"
	"testing"

	"github.com/healer-mesos/healer/scheduler/coordinator"
)

// FuzzDecodeAgent: DecodeAgent never panics on arbitrary bytes (a znode can
// hold anything), and whatever it accepts encodes again and decodes to the
// same record (output tails above the cap excepted: the store clips them).
// Seeds: testdata/fuzz/FuzzDecodeAgent plus the fixtures below.
func FuzzDecodeAgent(f *testing.F) {
	for _, r := range []coordinator.AgentRecord{fullAgent(), {ID: "a1"}, {ID: "a2", State: coordinator.StateIsolated}} {
		b, err := EncodeAgent(r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{0x20, 0x2a}) // state 42: a newer healer's
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeAgent(b)
		if err != nil {
			return
		}
		for _, a := range r.History {
			if len(a.OutputTail) > coordinator.MaxOutputTailBytes {
				return
			}
		}
		b2, err := EncodeAgent(r)
		if errors.Is(err, ErrRecordTooLarge) {
			return
		}
		if err != nil {
			t.Fatalf("a decoded record does not encode: %v\n%+v", err, r)
		}
		r2, err := DecodeAgent(b2)
		if err != nil {
			t.Fatalf("a re-encoded record does not decode: %v", err)
		}
		if !reflect.DeepEqual(r, r2) {
			t.Fatalf("re-encoding changed the record:\n got %+v\nwant %+v", r2, r)
		}
	})
}

// FuzzDecodeGlobal: the same for the global record.
func FuzzDecodeGlobal(f *testing.F) {
	b, err := EncodeGlobal(fullGlobal())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		g, err := DecodeGlobal(b)
		if err != nil {
			return
		}
		b2, err := EncodeGlobal(g)
		if err != nil {
			t.Fatalf("a decoded record does not encode: %v\n%+v", err, g)
		}
		g2, err := DecodeGlobal(b2)
		if err != nil || !reflect.DeepEqual(g, g2) {
			t.Fatalf("re-encoding changed the record: %v\n got %+v\nwant %+v", err, g2, g)
		}
	})
}
