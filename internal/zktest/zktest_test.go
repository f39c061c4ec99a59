package zktest

import (
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
)

func TestStartServesClients(t *testing.T) {
	s := Start(t)
	conn, _, err := zk.Connect([]string{s.Addr}, 2*time.Second, zk.WithLogInfo(false))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close()
	if _, err := conn.Create("/probe", []byte("x"), 0, zk.WorldACL(zk.PermAll)); err != nil {
		t.Fatalf("create: %v", err)
	}
	data, _, err := conn.Get("/probe")
	if err != nil || string(data) != "x" {
		t.Fatalf("get = %q, %v; want x", data, err)
	}
}
