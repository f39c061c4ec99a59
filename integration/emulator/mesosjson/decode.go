package mesosjson

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
)

// presence records which fields of one decoded message were set, since
// fields gogo stores without a pointer cannot tell "unset" from "zero".
// Required fields are checked against it after the whole body is converted,
// as protobuf's IsInitialized does.
type presence struct {
	mi   *messageInfo
	set  []bool        // by fieldInfo.pos
	subs [][]*presence // by fieldInfo.pos: decoded sub-messages, in order
}

// decodeObject converts a JSON object into the struct dst (addressable),
// visiting keys in sorted order as stout does (its JSON objects are
// std::maps), so the first error reported is Mesos' first.
func decodeObject(obj map[string]any, dst reflect.Value) (*presence, error) {
	mi, err := infoFor(dst.Type())
	if err != nil {
		return nil, err
	}
	p := &presence{mi: mi, set: make([]bool, len(mi.fields)), subs: make([][]*presence, len(mi.fields))}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		f := mi.byName[k]
		if f == nil {
			continue // unknown keys are ignored
		}
		if err := decodeField(p, f, dst.Field(f.index), obj[k]); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// decodeField applies one JSON value to field f, mirroring stout's Parser
// visitor: null leaves the field unset; an array is only allowed for a
// repeated field and is applied element by element; any other value on a
// repeated field adds one element.
func decodeField(p *presence, f *fieldInfo, fv reflect.Value, jv any) error {
	switch x := jv.(type) {
	case nil:
		return nil
	case []any:
		if !f.repeated {
			return fmt.Errorf("Not expecting a JSON array for field '%s'", f.name)
		}
		for _, e := range x {
			if f.isMap && e != nil { // null elements are skipped, as stout skips them
				if err := decodeMapEntry(p, f, fv, e); err != nil {
					return err
				}
				continue
			}
			if err := decodeField(p, f, fv, e); err != nil {
				return err
			}
		}
		return nil
	case map[string]any:
		if f.kind != kindMessage {
			return fmt.Errorf("Not expecting a JSON object for field '%s'", f.name)
		}
		if f.isMap {
			return decodeMap(p, f, fv, x)
		}
		var target reflect.Value
		switch {
		case f.repeated && f.elemPointer:
			fv.Set(reflect.Append(fv, reflect.New(f.msgType)))
			target = fv.Index(fv.Len() - 1).Elem()
		case f.repeated:
			fv.Set(reflect.Append(fv, reflect.Zero(f.msgType)))
			target = fv.Index(fv.Len() - 1)
		case f.pointer:
			if fv.IsNil() {
				fv.Set(reflect.New(f.msgType))
			}
			target = fv.Elem()
		default:
			target = fv
		}
		sub, err := decodeObject(x, target)
		if err != nil {
			return err
		}
		if f.repeated {
			p.subs[f.pos] = append(p.subs[f.pos], sub)
		} else {
			p.subs[f.pos] = []*presence{sub}
		}
		p.set[f.pos] = true
		return nil
	}
	v, ok, err := scalar(f, jv)
	if err != nil || !ok {
		return err
	}
	switch {
	case f.repeated:
		fv.Set(reflect.Append(fv, v.Convert(fv.Type().Elem())))
	case f.pointer:
		ptr := reflect.New(fv.Type().Elem())
		ptr.Elem().Set(v.Convert(fv.Type().Elem()))
		fv.Set(ptr)
	default:
		fv.Set(v.Convert(fv.Type()))
	}
	p.set[f.pos] = true
	return nil
}

// scalar converts a JSON string, number or boolean for a non-message field.
// ok is false when the value is to be dropped (an unknown enum name in a
// field that is not required).
func scalar(f *fieldInfo, jv any) (v reflect.Value, ok bool, err error) {
	switch x := jv.(type) {
	case bool:
		if f.kind != kindBool {
			return v, false, fmt.Errorf("Not expecting a JSON boolean for field '%s'", f.name)
		}
		return reflect.ValueOf(x), true, nil
	case json.Number:
		switch f.kind {
		case kindInt32, kindInt64, kindUint32, kindUint64, kindFloat, kindDouble:
			v, err := number(f, string(x))
			return v, err == nil, err
		}
		return v, false, fmt.Errorf("Not expecting a JSON number for field '%s'", f.name)
	case string:
		switch f.kind {
		case kindString:
			return reflect.ValueOf(x), true, nil
		case kindBytes:
			b, err := base64.StdEncoding.DecodeString(x)
			if err != nil {
				return v, false, fmt.Errorf("Failed to base64 decode bytes field '%s': %w", f.name, err)
			}
			return reflect.ValueOf(b), true, nil
		case kindEnum:
			n, found := enumNumber(f.enum, x)
			if !found {
				if f.required {
					return v, false, fmt.Errorf("Failed to find enum for '%s'", x)
				}
				return v, false, nil
			}
			return reflect.ValueOf(n), true, nil
		case kindInt32, kindInt64, kindUint32, kindUint64, kindFloat, kindDouble:
			// Newer Mesos accepts numbers written as strings, e.g. a
			// 64-bit value a JavaScript client kept exact.
			v, err := number(f, x)
			return v, err == nil, err
		}
		return v, false, fmt.Errorf("Not expecting a JSON string for field '%s'", f.name)
	}
	return v, false, fmt.Errorf("Not expecting a JSON %T for field '%s'", jv, f.name)
}

// errRange reports a number that does not fit its field. Mesos casts such
// values with C++ conversion rules (wrapping or undefined behaviour); the
// emulator refuses them instead.
var errRange = errors.New("value out of range")

// number parses s for a numeric field. Integral fields also take a value
// with a fraction or exponent, truncated toward zero as stout's
// Number::as<T>() does; doubles take "Infinity", "-Infinity" and "NaN".
func number(f *fieldInfo, s string) (reflect.Value, error) {
	wrap := func(err error) error {
		return fmt.Errorf("Value '%s' is invalid for field '%s': %w", s, f.name, err)
	}
	switch f.kind {
	case kindFloat, kindDouble:
		d, err := strconv.ParseFloat(s, 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return reflect.Value{}, wrap(err)
		}
		if f.kind == kindFloat {
			return reflect.ValueOf(float32(d)), nil
		}
		return reflect.ValueOf(d), nil
	case kindInt32, kindInt64:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			d, ferr := strconv.ParseFloat(s, 64)
			if ferr != nil || math.IsNaN(d) || d < math.MinInt64 || d >= math.MaxInt64 {
				return reflect.Value{}, wrap(errRange)
			}
			n = int64(d)
		}
		if f.kind == kindInt32 {
			if n < math.MinInt32 || n > math.MaxInt32 {
				return reflect.Value{}, wrap(errRange)
			}
			return reflect.ValueOf(int32(n)), nil
		}
		return reflect.ValueOf(n), nil
	default: // kindUint32, kindUint64
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			d, ferr := strconv.ParseFloat(s, 64)
			if ferr != nil || math.IsNaN(d) || d <= -1 || d >= math.MaxUint64 {
				return reflect.Value{}, wrap(errRange)
			}
			n = uint64(d)
		}
		if f.kind == kindUint32 {
			if n > math.MaxUint32 {
				return reflect.Value{}, wrap(errRange)
			}
			return reflect.ValueOf(uint32(n)), nil
		}
		return reflect.ValueOf(n), nil
	}
}

// decodeMap reads a map field written as a JSON object.
func decodeMap(p *presence, f *fieldInfo, fv reflect.Value, obj map[string]any) error {
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := putMapEntry(p, f, fv, k, obj[k]); err != nil {
			return err
		}
	}
	return nil
}

// decodeMapEntry reads one {"key": ..., "value": ...} element, the form a
// map field has as a repeated entry message.
func decodeMapEntry(p *presence, f *fieldInfo, fv reflect.Value, e any) error {
	obj, ok := e.(map[string]any)
	if !ok {
		return fmt.Errorf("Not expecting a JSON %s for field '%s'", jsonKind(e), f.name)
	}
	var key string
	switch k := obj["key"].(type) {
	case string:
		key = k
	case json.Number:
		key = string(k)
	case bool:
		key = strconv.FormatBool(k)
	case nil:
	default:
		return fmt.Errorf("Not expecting a JSON %s for field 'key'", jsonKind(k))
	}
	return putMapEntry(p, f, fv, key, obj["value"])
}

func putMapEntry(p *presence, f *fieldInfo, fv reflect.Value, key string, jv any) error {
	kv, err := mapKey(f.key, key)
	if err != nil {
		return err
	}
	if fv.IsNil() {
		fv.Set(reflect.MakeMap(fv.Type()))
	}
	elemType := fv.Type().Elem()
	val := reflect.New(elemType).Elem()
	if jv != nil {
		vp := &presence{mi: &messageInfo{}, set: []bool{false}, subs: [][]*presence{nil}}
		vf := *f.val
		vf.pos = 0
		if err := decodeField(vp, &vf, val, jv); err != nil {
			return err
		}
		if sub := vp.subs[0]; len(sub) == 1 {
			p.subs[f.pos] = append(p.subs[f.pos], sub[0])
		}
	}
	fv.SetMapIndex(kv, val)
	p.set[f.pos] = true
	return nil
}

func mapKey(f *fieldInfo, s string) (reflect.Value, error) {
	switch f.kind {
	case kindString:
		return reflect.ValueOf(s), nil
	case kindBool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return reflect.Value{}, fmt.Errorf("Value '%s' is invalid for field 'key': %w", s, err)
		}
		return reflect.ValueOf(b), nil
	}
	return number(f, s)
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case json.Number:
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	}
	return "object"
}

// missingFields lists unset required fields as protobuf's
// InitializationErrorString does: this message's required fields in
// declaration order, then those of set sub-messages in field-number order,
// with paths like "subscribe.framework_info.user" and "offers[2].id".
func missingFields(p *presence, prefix string, out []string) []string {
	for _, f := range p.mi.required {
		if !p.set[f.pos] {
			out = append(out, prefix+f.name)
		}
	}
	for _, f := range p.mi.byNumber {
		subs := p.subs[f.pos]
		for j, sub := range subs {
			path := prefix + f.name
			switch {
			case f.isMap:
				path += "[" + strconv.Itoa(j) + "].value"
			case f.repeated:
				path += "[" + strconv.Itoa(j) + "]"
			}
			out = missingFields(sub, path+".", out)
		}
	}
	return out
}
