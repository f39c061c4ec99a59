// Package healerpb holds healer's gogo/protobuf messages: the state persisted
// in ZooKeeper (AgentRecord, GlobalRecord, FrameworkRecord) and the payloads
// of Mesos messages (RepairTask, RepairResult, MonitorConfig, MonitorReport);
// and AgentsResponse, the part of the Mesos master's GET_AGENTS answer healer
// reads, field for field Mesos's numbering (proto/mesos_agents.proto). The
// *.pb.go files are generated from proto/*.proto by scripts/proto.sh. Text
// bounds live with the code that produces the text (the coordinator's
// Max*Bytes for persisted records).
//
// Keep these types at the edges (scheduler/store, the Mesos adapters, the
// executor): the coordinator works on plain Go types, and scheduler/store
// converts its records to and from these messages.
package healerpb
