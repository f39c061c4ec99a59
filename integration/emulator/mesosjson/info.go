package mesosjson

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strings"
	"sync"

	"github.com/gogo/protobuf/proto"
	"github.com/gogo/protobuf/protoc-gen-gogo/descriptor"
)

// kind is a protobuf field type as far as the JSON mapping cares.
type kind int

const (
	kindBool kind = iota
	kindInt32
	kindInt64
	kindUint32
	kindUint64
	kindFloat
	kindDouble
	kindString
	kindBytes
	kindEnum
	kindMessage
)

// messageInfo is what the mapping needs to know about one generated message
// struct, derived once from its struct tags and file descriptor.
type messageInfo struct {
	name     string                // full proto name, for errors
	fields   []*fieldInfo          // declaration order: Mesos writes in this order
	byName   map[string]*fieldInfo // proto (snake_case) name → field
	required []*fieldInfo          // declaration order, as protobuf reports them
	byNumber []*fieldInfo          // tag order, as protobuf's ListFields walks them
}

// fieldInfo describes one proto field of a generated struct.
type fieldInfo struct {
	name     string
	pos      int // position in messageInfo.fields
	index    int // struct field index
	number   int
	kind     kind
	required bool
	repeated bool
	proto3   bool // proto3 scalar: "set" means non-zero
	// pointer: a singular field stored behind a pointer (nil = unset).
	pointer bool
	// elemPointer: a repeated message stored as []*T rather than []T.
	elemPointer bool
	enum        string       // registered enum name, e.g. "mesos.TaskState"
	msgType     reflect.Type // struct type of a message field or map value
	// Optional fields with an explicit default (and not deprecated) are
	// written even when unset, as stout's json() does.
	writeDefault bool
	defaultValue string // the tag's def= text

	isMap    bool
	key, val *fieldInfo // map entry fields
}

var infoCache sync.Map // reflect.Type (struct) → *messageInfo

// infoFor returns the metadata of the generated struct type t.
func infoFor(t reflect.Type) (*messageInfo, error) {
	if mi, ok := infoCache.Load(t); ok {
		return mi.(*messageInfo), nil
	}
	mi, err := buildInfo(t)
	if err != nil {
		return nil, err
	}
	actual, _ := infoCache.LoadOrStore(t, mi)
	return actual.(*messageInfo), nil
}

func buildInfo(t reflect.Type) (*messageInfo, error) {
	if t.Kind() != reflect.Struct {
		return nil, fmt.Errorf("%s is not a generated protobuf message", t)
	}
	mi := &messageInfo{name: t.Name(), byName: make(map[string]*fieldInfo)}
	if pm, ok := reflect.New(t).Interface().(proto.Message); ok {
		if n := proto.MessageName(pm); n != "" {
			mi.name = n
		}
	}
	deprecated, err := deprecatedFields(t)
	if err != nil {
		return nil, err
	}
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		tag := sf.Tag.Get("protobuf")
		if tag == "" {
			if sf.Tag.Get("protobuf_oneof") != "" {
				return nil, fmt.Errorf("%s.%s: oneof fields are not supported", t, sf.Name)
			}
			continue // XXX_ bookkeeping fields
		}
		var p proto.Properties
		p.Init(sf.Type, sf.Name, tag, &sf)
		f, err := newField(&p, sf.Type, tag)
		if err != nil {
			return nil, fmt.Errorf("%s.%s: %w", t, sf.Name, err)
		}
		f.index = i
		f.pos = len(mi.fields)
		f.writeDefault = p.HasDefault && !f.repeated && !deprecated[f.number]
		if f.isMap {
			kt, vt := sf.Type.Key(), sf.Type.Elem()
			if f.key, err = newField(p.MapKeyProp, kt, sf.Tag.Get("protobuf_key")); err != nil {
				return nil, fmt.Errorf("%s.%s key: %w", t, sf.Name, err)
			}
			if f.val, err = newField(p.MapValProp, vt, sf.Tag.Get("protobuf_val")); err != nil {
				return nil, fmt.Errorf("%s.%s value: %w", t, sf.Name, err)
			}
			if f.key.kind == kindMessage || f.key.kind == kindBytes || f.key.kind == kindFloat ||
				f.key.kind == kindDouble || f.key.kind == kindEnum {
				return nil, fmt.Errorf("%s.%s: invalid map key type", t, sf.Name)
			}
		}
		mi.fields = append(mi.fields, f)
		mi.byName[f.name] = f
		if f.required {
			mi.required = append(mi.required, f)
		}
	}
	mi.byNumber = append([]*fieldInfo(nil), mi.fields...)
	sort.SliceStable(mi.byNumber, func(a, b int) bool { return mi.byNumber[a].number < mi.byNumber[b].number })
	return mi, nil
}

// newField classifies a field from its parsed tag and Go type.
func newField(p *proto.Properties, goType reflect.Type, tag string) (*fieldInfo, error) {
	f := &fieldInfo{
		name:         p.OrigName,
		number:       p.Tag,
		required:     p.Required,
		repeated:     p.Repeated,
		enum:         p.Enum,
		defaultValue: p.Default,
		proto3:       strings.Contains(","+tag+",", ",proto3,"),
	}
	if p.CustomType != "" || p.StdTime || p.StdDuration || p.WktPointer {
		return nil, fmt.Errorf("gogoproto customtype/stdtime/stdduration/wktpointer are not supported")
	}
	t := goType
	if goType.Kind() == reflect.Map {
		f.isMap, f.repeated, f.kind = true, true, kindMessage
		return f, nil
	}
	if f.repeated {
		if t.Kind() != reflect.Slice {
			return nil, fmt.Errorf("repeated field of Go type %s", goType)
		}
		t = t.Elem()
		if t.Kind() == reflect.Ptr {
			f.elemPointer = true
			t = t.Elem()
		}
	} else if t.Kind() == reflect.Ptr {
		f.pointer = true
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Bool:
		f.kind = kindBool
	case reflect.Int32:
		f.kind = kindInt32
		if f.enum != "" {
			f.kind = kindEnum
		}
	case reflect.Int64:
		f.kind = kindInt64
	case reflect.Uint32:
		f.kind = kindUint32
	case reflect.Uint64:
		f.kind = kindUint64
	case reflect.Float32:
		f.kind = kindFloat
	case reflect.Float64:
		f.kind = kindDouble
	case reflect.String:
		f.kind = kindString
	case reflect.Slice:
		if t.Elem().Kind() != reflect.Uint8 {
			return nil, fmt.Errorf("unsupported Go type %s", goType)
		}
		f.kind = kindBytes
	case reflect.Struct:
		f.kind = kindMessage
		f.msgType = t
	default:
		return nil, fmt.Errorf("unsupported Go type %s", goType)
	}
	if f.kind == kindBytes && f.pointer {
		return nil, fmt.Errorf("unsupported Go type %s", goType)
	}
	return f, nil
}

// deprecatedFields lists the field numbers declared [deprecated = true] in
// the message's descriptor. stout writes an unset optional field's default
// only when the field is not deprecated (e.g. FrameworkInfo.role "*" is
// left out), and only the descriptor carries that option.
func deprecatedFields(t reflect.Type) (map[int]bool, error) {
	dm, ok := reflect.New(t).Interface().(descriptor.Message)
	if !ok {
		return nil, nil // no descriptor: treat no field as deprecated
	}
	gz, path := dm.Descriptor()
	fd, err := fileDescriptor(gz)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t, err)
	}
	if len(path) == 0 || path[0] >= len(fd.MessageType) {
		return nil, fmt.Errorf("%s: bad descriptor path %v", t, path)
	}
	md := fd.MessageType[path[0]]
	for _, i := range path[1:] {
		if i >= len(md.NestedType) {
			return nil, fmt.Errorf("%s: bad descriptor path %v", t, path)
		}
		md = md.NestedType[i]
	}
	out := make(map[int]bool)
	for _, f := range md.GetField() {
		if f.GetOptions().GetDeprecated() {
			out[int(f.GetNumber())] = true
		}
	}
	return out, nil
}

// fileDescriptors caches decompressed file descriptors by the address of
// their gzipped form: every message of a .proto file returns the same
// slice, and decompressing mesos.proto's once per message type would cost
// a noticeable pause the first time a big message is encoded.
var fileDescriptors sync.Map // *byte → *descriptor.FileDescriptorProto

func fileDescriptor(gz []byte) (*descriptor.FileDescriptorProto, error) {
	if len(gz) == 0 {
		return nil, fmt.Errorf("empty file descriptor")
	}
	if fd, ok := fileDescriptors.Load(&gz[0]); ok {
		return fd.(*descriptor.FileDescriptorProto), nil
	}
	r, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return nil, fmt.Errorf("read file descriptor: %w", err)
	}
	raw, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read file descriptor: %w", err)
	}
	fd := new(descriptor.FileDescriptorProto)
	if err := proto.Unmarshal(raw, fd); err != nil {
		return nil, fmt.Errorf("parse file descriptor: %w", err)
	}
	actual, _ := fileDescriptors.LoadOrStore(&gz[0], fd)
	return actual.(*descriptor.FileDescriptorProto), nil
}

// enumTable holds one enum's names in both directions.
type enumTable struct {
	byName   map[string]int32
	byNumber map[int32]string
}

var (
	enumMu     sync.RWMutex
	enumTables = make(map[string]*enumTable) // registered enum name → table
	// extraEnums holds names newer Mesos versions added after mesos-go
	// v0.0.11's protos were generated.
	extraEnums = make(map[string]*enumTable)
)

func init() {
	// Mesos 1.12's mesos.proto: MasterInfo.Capability.Type
	// UNKNOWN = 0, AGENT_UPDATE = 1, AGENT_DRAINING = 2, QUOTA_V2 = 3.
	RegisterEnumName("mesos.MasterInfo_Capability_Type", 3, "QUOTA_V2")
}

// RegisterEnumName teaches the mapping one enum value that mesos-go's
// generated tables lack, so the emulator can write and read the names a
// newer Mesos uses. enumType is the name mesos-go registers the enum under
// (the enum= part of the field's struct tag), e.g.
// "mesos.MasterInfo_Capability_Type". A name mesos-go already knows keeps
// its number. Safe for concurrent use.
func RegisterEnumName(enumType string, number int32, name string) {
	enumMu.Lock()
	defer enumMu.Unlock()
	t := extraEnums[enumType]
	if t == nil {
		t = &enumTable{byName: make(map[string]int32), byNumber: make(map[int32]string)}
		extraEnums[enumType] = t
	}
	t.byName[name] = number
	t.byNumber[number] = name
}

// generatedEnum returns mesos-go's table for an enum, inverted once.
func generatedEnum(enumType string) *enumTable {
	enumMu.RLock()
	t := enumTables[enumType]
	enumMu.RUnlock()
	if t != nil {
		return t
	}
	values := proto.EnumValueMap(enumType)
	t = &enumTable{byName: values, byNumber: make(map[int32]string, len(values))}
	for name, n := range values {
		// Aliases: keep the smallest name so output is deterministic.
		if old, ok := t.byNumber[n]; !ok || name < old {
			t.byNumber[n] = name
		}
	}
	enumMu.Lock()
	enumTables[enumType] = t
	enumMu.Unlock()
	return t
}

// enumName names an enum number, consulting the supplementary table for
// numbers mesos-go does not know.
func enumName(enumType string, n int32) (string, bool) {
	if name, ok := generatedEnum(enumType).byNumber[n]; ok {
		return name, true
	}
	enumMu.RLock()
	defer enumMu.RUnlock()
	if t := extraEnums[enumType]; t != nil {
		name, ok := t.byNumber[n]
		return name, ok
	}
	return "", false
}

// enumNumber resolves an enum name, consulting the supplementary table.
func enumNumber(enumType, name string) (int32, bool) {
	if n, ok := generatedEnum(enumType).byName[name]; ok {
		return n, true
	}
	enumMu.RLock()
	defer enumMu.RUnlock()
	if t := extraEnums[enumType]; t != nil {
		n, ok := t.byName[name]
		return n, ok
	}
	return 0, false
}
