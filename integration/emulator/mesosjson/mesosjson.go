// Package mesosjson encodes and decodes Mesos v1 protobuf messages (the
// mesos-go v0.0.11 gogo-generated types) as JSON the way Mesos itself does
// (stout/protobuf.hpp; mesos-protocol.md 0.3). It is not the proto3 JSON
// mapping, nor mesos-go's ffjson codec:
//
//   - keys are proto field names (snake_case), written in declaration order;
//   - enums are name strings; numbers mesos-go does not know are named from
//     a supplementary table of newer Mesos names (see RegisterEnumName),
//     so the emulator can announce what a Mesos 1.12 master announces
//     (QUOTA_V2); a number nobody names is written as a number;
//   - bytes are standard base64 with padding; 64-bit integers are numbers;
//   - every set field is written, and so is every unset optional field that
//     declares a default and is not deprecated (failover_timeout,
//     checkpoint, refuse_seconds, ...); empty repeated fields are left out;
//     map fields are objects with sorted keys;
//   - on input unknown keys are ignored, null means unset, numbers may be
//     strings, doubles take "Infinity"/"-Infinity", an unknown enum name is
//     dropped unless its field is required, and required fields are
//     enforced after the whole body is converted.
//
// Reflection metadata is derived from the struct tags (and, for the
// deprecated option, the embedded file descriptors) once per type.
package mesosjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"

	"github.com/gogo/protobuf/proto"
)

// Marshal encodes m as Mesos JSON. It fails only for values that are not
// generated protobuf structs (or use gogo options the mesos-go types never
// use, such as oneof or customtype).
func Marshal(m proto.Message) ([]byte, error) {
	v := reflect.ValueOf(m)
	if v.Kind() != reflect.Ptr || v.IsNil() {
		return nil, fmt.Errorf("mesosjson: cannot marshal %T: not a non-nil message pointer", m)
	}
	b, err := encodeMessage(make([]byte, 0, 256), v.Elem())
	if err != nil {
		return nil, fmt.Errorf("mesosjson: marshal %s: %w", shortName(m), err)
	}
	return b, nil
}

// Unmarshal decodes Mesos JSON into m, replacing its contents; on error m
// is left untouched. Errors are worded as Mesos words them for a request
// body, so callers can answer 400 with err.Error():
//
//	Failed to parse body into JSON: <syntax error>
//	Failed to convert JSON into Call protobuf: <conversion error>
//	Failed to convert JSON into Call protobuf: Missing required fields: a.b, c
func Unmarshal(data []byte, m proto.Message) error {
	v := reflect.ValueOf(m)
	if v.Kind() != reflect.Ptr || v.IsNil() {
		return fmt.Errorf("mesosjson: cannot unmarshal into %T: not a non-nil message pointer", m)
	}
	doc, err := parseJSON(data)
	if err != nil {
		return fmt.Errorf("Failed to parse body into JSON: %w", err)
	}
	convert := func(format string, args ...any) error {
		return fmt.Errorf("Failed to convert JSON into %s protobuf: "+format, append([]any{shortName(m)}, args...)...)
	}
	obj, ok := doc.(map[string]any)
	if !ok {
		return convert("Expecting a JSON object")
	}
	fresh := reflect.New(v.Elem().Type())
	p, err := decodeObject(obj, fresh.Elem())
	if err != nil {
		return convert("%w", err)
	}
	if missing := missingFields(p, "", nil); len(missing) > 0 {
		return convert("Missing required fields: %s", strings.Join(missing, ", "))
	}
	v.Elem().Set(fresh.Elem())
	return nil
}

// parseJSON reads exactly one JSON value, keeping numbers as text so 64-bit
// integers stay exact.
func parseJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("unexpected end of JSON input")
		}
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		// Let encoding/json word the trailing-data error.
		var discard any
		if err := json.Unmarshal(data, &discard); err != nil {
			return nil, err
		}
		return nil, errors.New("invalid data after top-level value")
	}
	return doc, nil
}

// shortName is the message name Mesos uses in its errors: "Call" for
// mesos.scheduler.Call.
func shortName(m proto.Message) string {
	name := proto.MessageName(m)
	if name == "" {
		name = reflect.TypeOf(m).Elem().Name()
	}
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		name = name[i+1:]
	}
	return name
}
