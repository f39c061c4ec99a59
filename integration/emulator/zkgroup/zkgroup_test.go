package zkgroup

import (
	"context"
	"encoding/json"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/gogo/protobuf/proto"
	mesos "github.com/mesos/mesos-go/api/v1/lib"

	"go.uber.org/goleak"

	"github.com/healer-mesos/healer/internal/zktest"
	"github.com/healer-mesos/healer/internal/zkurl"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestLowestMember(t *testing.T) {
	children := []string{"log_replicas", "json.info_0000000009", "info_0000000003", "json.info_0000000007", "0000000005x"}
	low, ok := lowestMember(children)
	if !ok || low.name != "info_0000000003" || low.label != "info" || low.seq != 3 {
		t.Fatalf("lowestMember = %+v, %v; want info_0000000003", low, ok)
	}
	if low, ok := lowestMember([]string{"0000000002", "json.info_0000000004"}); !ok || low.label != "" || low.seq != 2 {
		t.Fatalf("bare sequence member not elected: %+v", low)
	}
	if _, ok := lowestMember([]string{"log_replicas"}); ok {
		t.Fatal("log_replicas taken as a member")
	}
}

func TestMesosIPv4(t *testing.T) {
	if got := MesosIPv4(net.ParseIP("10.0.0.1")); got != 16777226 {
		t.Errorf("10.0.0.1 -> %d; want 16777226", got)
	}
	if got := MesosIPv4(net.ParseIP("127.0.1.1")); got != 16842879 {
		t.Errorf("127.0.1.1 -> %d; want 16842879", got)
	}
}

// testMasterInfo builds a MasterInfo as a master on 127.0.0.1:port would.
func testMasterInfo(id string, port int) mesos.MasterInfo {
	p := uint32(port)
	return mesos.MasterInfo{
		ID:       id,
		IP:       MesosIPv4(net.ParseIP("127.0.0.1")),
		Port:     &p,
		PID:      proto.String("master@127.0.0.1:" + strconv.Itoa(port)),
		Hostname: proto.String("127.0.0.1"),
		Version:  proto.String("1.11.0"),
		Address:  &mesos.Address{Hostname: proto.String("127.0.0.1"), IP: proto.String("127.0.0.1"), Port: int32(port)},
		Capabilities: []mesos.MasterInfo_Capability{
			{Type: mesos.MasterInfo_Capability_AGENT_UPDATE},
			{Type: mesos.MasterInfo_Capability_AGENT_DRAINING},
		},
	}
}

func waitClosed(t *testing.T, c <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-c:
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

func TestZKContendersElectLowestSequence(t *testing.T) {
	srv := zktest.Start(t)
	url, err := zkurl.Parse("zk://" + srv.Addr + "/test/mesos")
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{URL: url, SessionTimeout: 2 * time.Second}

	det, err := NewDetector(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer det.Close()

	c1, err := NewContender(context.Background(), cfg, testMasterInfo("m1", 5050))
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	c2, err := NewContender(context.Background(), cfg, testMasterInfo("m2", 5051))
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()

	nodeRE := regexp.MustCompile(`^/test/mesos/json\.info_\d{10}$`)
	for _, n := range []string{c1.Node(), c2.Node()} {
		if !nodeRE.MatchString(n) {
			t.Errorf("znode %q does not match %s", n, nodeRE)
		}
	}
	waitClosed(t, c1.Elected(), "first contender elected")
	select {
	case <-c2.Elected():
		t.Fatal("second contender elected while the first leads")
	default:
	}

	// The znode holds Mesos' MasterInfo JSON, and is ephemeral.
	conn, _, err := zk.Connect([]string{srv.Addr}, 2*time.Second, zk.WithLogInfo(false))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	data, stat, err := conn.Get(c1.Node())
	if err != nil {
		t.Fatal(err)
	}
	if stat.EphemeralOwner == 0 {
		t.Error("member znode is not ephemeral")
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("member data is not JSON: %v: %s", err, data)
	}
	if doc["id"] != "m1" || doc["ip"] != float64(16777343) || doc["port"] != float64(5050) ||
		doc["pid"] != "master@127.0.0.1:5050" || doc["hostname"] != "127.0.0.1" {
		t.Errorf("MasterInfo JSON = %s", data)
	}
	addr, _ := doc["address"].(map[string]any)
	if addr["hostname"] != "127.0.0.1" || addr["ip"] != "127.0.0.1" || addr["port"] != float64(5050) {
		t.Errorf("MasterInfo.address = %v", doc["address"])
	}
	if groupData, _, err := conn.Get("/test/mesos"); err != nil || len(groupData) != 0 {
		t.Errorf("group node data = %q, %v; want empty", groupData, err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	leader, err := det.WaitLeader(ctx, nil)
	if err != nil || leader.ID != "m1" || LeaderHostPort(leader) != "127.0.0.1:5050" {
		t.Fatalf("detected leader = %+v, %v; want m1 at 127.0.0.1:5050", leader, err)
	}

	// The leader withdraws: its session closes and the next sequence leads.
	c1.Close()
	waitClosed(t, c1.Lost(), "first contender's candidacy lost")
	waitClosed(t, c2.Elected(), "second contender elected")
	leader, err = det.WaitLeader(ctx, func(m mesos.MasterInfo) bool { return m.ID == "m2" })
	if err != nil {
		t.Fatal(err)
	}
	if LeaderHostPort(leader) != "127.0.0.1:5051" {
		t.Errorf("leader at %s; want 127.0.0.1:5051", LeaderHostPort(leader))
	}
}

func TestZKContenderLosesCandidacyWithItsNode(t *testing.T) {
	srv := zktest.Start(t)
	url, _ := zkurl.Parse("zk://" + srv.Addr + "/mesos")
	c, err := NewContender(context.Background(), Config{URL: url, SessionTimeout: time.Second}, testMasterInfo("m1", 5050))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitClosed(t, c.Elected(), "elected")
	conn, _, err := zk.Connect([]string{srv.Addr}, 2*time.Second, zk.WithLogInfo(false))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.Delete(c.Node(), -1); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, c.Lost(), "candidacy lost after the node was deleted")
}

func TestZKDigestCredentialsACL(t *testing.T) {
	srv := zktest.Start(t)
	url, _ := zkurl.Parse("zk://alice:secret@" + srv.Addr + "/secure")
	c, err := NewContender(context.Background(), Config{URL: url, SessionTimeout: 2 * time.Second}, testMasterInfo("m1", 5050))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	conn, _, err := zk.Connect([]string{srv.Addr}, 2*time.Second, zk.WithLogInfo(false))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	acl, _, err := conn.GetACL(c.Node())
	if err != nil {
		t.Fatal(err)
	}
	var worldRead, creatorAll bool
	for _, a := range acl {
		worldRead = worldRead || (a.Scheme == "world" && a.ID == "anyone" && a.Perms == zk.PermRead)
		creatorAll = creatorAll || (a.Scheme == "digest" && strings.HasPrefix(a.ID, "alice:") && a.Perms == zk.PermAll)
	}
	if !worldRead || !creatorAll {
		t.Errorf("ACL = %+v; want world:anyone read and digest alice all", acl)
	}
	// Anyone may read the leader's MasterInfo without credentials.
	if _, _, err := conn.Get(c.Node()); err != nil {
		t.Errorf("unauthenticated read: %v", err)
	}
	if err := conn.Delete(c.Node(), -1); err == nil {
		t.Error("unauthenticated delete succeeded")
	}
}
