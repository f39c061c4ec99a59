// Package mesosjson encodes and decodes Mesos v1 protobuf messages (the
// mesos-go v0.0.11 types) as JSON the way Mesos itself does
// (stout/protobuf.hpp; mesos-protocol.md 0.3).
//
// PLACEHOLDER: this first version delegates to mesos-go's ffjson marshalers;
// it is being replaced by a reflective implementation of Mesos' mapping.
package mesosjson

import (
	"encoding/json"
	"fmt"

	"github.com/gogo/protobuf/proto"
)

// Marshal encodes m as Mesos JSON.
func Marshal(m proto.Message) ([]byte, error) {
	return json.Marshal(m)
}

// Unmarshal decodes Mesos JSON into m. Errors are worded as Mesos words them
// for a request body ("Failed to parse body into JSON: ...", "Failed to
// convert JSON into Call protobuf: ...").
func Unmarshal(data []byte, m proto.Message) error {
	if err := json.Unmarshal(data, m); err != nil {
		return fmt.Errorf("Failed to parse body into JSON: %s", err)
	}
	return nil
}
