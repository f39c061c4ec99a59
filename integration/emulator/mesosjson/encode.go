package mesosjson

import (
	"encoding/base64"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"unicode/utf8"
)

// encodeMessage appends the JSON object for the struct v, following stout's
// json(): fields in declaration order; set fields written; unset optional
// fields with a non-deprecated default written with that default; empty
// repeated fields left out.
func encodeMessage(b []byte, v reflect.Value) ([]byte, error) {
	mi, err := infoFor(v.Type())
	if err != nil {
		return nil, err
	}
	b = append(b, '{')
	first := true
	for _, f := range mi.fields {
		fv := v.Field(f.index)
		if !f.present(fv) {
			if !f.writeDefault {
				continue
			}
			b = appendKey(b, f.name, &first)
			if b, err = appendDefault(b, f); err != nil {
				return nil, err
			}
			continue
		}
		b = appendKey(b, f.name, &first)
		switch {
		case f.isMap:
			b, err = appendMap(b, f, fv)
		case f.repeated:
			b = append(b, '[')
			for i := 0; i < fv.Len(); i++ {
				if i > 0 {
					b = append(b, ',')
				}
				if b, err = appendValue(b, f, fv.Index(i)); err != nil {
					return nil, err
				}
			}
			b = append(b, ']')
		default:
			b, err = appendValue(b, f, fv)
		}
		if err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

// present reports whether protobuf would consider the field set. Fields
// gogo stores without a pointer (required or nullable=false) are always
// set, which also keeps the JSON and protobuf encodings of a message in
// agreement: gogo's marshaler always writes them.
func (f *fieldInfo) present(fv reflect.Value) bool {
	switch {
	case f.repeated:
		return fv.Len() > 0
	case f.pointer:
		return !fv.IsNil()
	case f.kind == kindBytes:
		return !fv.IsNil() // gogo keeps bytes as a slice; nil is unset
	case f.proto3:
		return !fv.IsZero()
	}
	return true
}

func appendKey(b []byte, name string, first *bool) []byte {
	if !*first {
		b = append(b, ',')
	}
	*first = false
	b = appendString(b, name)
	return append(b, ':')
}

// appendValue appends one singular value (or one element of a repeated
// field) of field f.
func appendValue(b []byte, f *fieldInfo, v reflect.Value) ([]byte, error) {
	if v.Kind() == reflect.Ptr {
		if v.IsNil() {
			// Only reachable for nil elements of a []*T field, which
			// protobuf cannot represent.
			return nil, fmt.Errorf("nil element in repeated field '%s'", f.name)
		}
		v = v.Elem()
	}
	switch f.kind {
	case kindBool:
		return strconv.AppendBool(b, v.Bool()), nil
	case kindInt32, kindInt64:
		return strconv.AppendInt(b, v.Int(), 10), nil
	case kindUint32, kindUint64:
		return strconv.AppendUint(b, v.Uint(), 10), nil
	case kindFloat:
		return appendFloat(b, v.Float(), 32), nil
	case kindDouble:
		return appendFloat(b, v.Float(), 64), nil
	case kindString:
		return appendString(b, v.String()), nil
	case kindBytes:
		return appendBytes(b, v.Bytes()), nil
	case kindEnum:
		return appendEnum(b, f.enum, int32(v.Int())), nil
	case kindMessage:
		return encodeMessage(b, v)
	}
	return nil, fmt.Errorf("field '%s': unknown kind %d", f.name, f.kind)
}

// appendMap writes a map field as a JSON object with sorted keys, so output
// is deterministic (protobuf keeps no order for map entries).
func appendMap(b []byte, f *fieldInfo, m reflect.Value) ([]byte, error) {
	keys := m.MapKeys()
	names := make([]string, len(keys))
	for i, k := range keys {
		names[i] = mapKeyString(f.key, k)
	}
	order := make([]int, len(keys))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, c int) bool { return names[order[a]] < names[order[c]] })
	b = append(b, '{')
	var err error
	for i, o := range order {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, names[o])
		b = append(b, ':')
		if b, err = appendValue(b, f.val, m.MapIndex(keys[o])); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

func mapKeyString(f *fieldInfo, k reflect.Value) string {
	switch f.kind {
	case kindBool:
		return strconv.FormatBool(k.Bool())
	case kindInt32, kindInt64:
		return strconv.FormatInt(k.Int(), 10)
	case kindUint32, kindUint64:
		return strconv.FormatUint(k.Uint(), 10)
	}
	return k.String()
}

// appendDefault writes the declared default of an unset optional field.
func appendDefault(b []byte, f *fieldInfo) ([]byte, error) {
	d := f.defaultValue
	switch f.kind {
	case kindBool:
		v, err := strconv.ParseBool(d)
		if err != nil {
			return nil, fmt.Errorf("field '%s': bad default %q: %w", f.name, d, err)
		}
		return strconv.AppendBool(b, v), nil
	case kindInt32, kindInt64, kindUint32, kindUint64:
		if _, err := strconv.ParseFloat(d, 64); err != nil {
			return nil, fmt.Errorf("field '%s': bad default %q: %w", f.name, d, err)
		}
		return append(b, d...), nil
	case kindFloat, kindDouble:
		v, err := strconv.ParseFloat(d, 64)
		if err != nil {
			return nil, fmt.Errorf("field '%s': bad default %q: %w", f.name, d, err)
		}
		return appendFloat(b, v, 64), nil
	case kindString:
		return appendString(b, d), nil
	case kindBytes:
		// gogo keeps a bytes default as its raw text.
		return appendBytes(b, []byte(d)), nil
	case kindEnum:
		// The tag holds an enum default as its number.
		n, err := strconv.ParseInt(d, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("field '%s': bad default %q: %w", f.name, d, err)
		}
		return appendEnum(b, f.enum, int32(n)), nil
	}
	return nil, fmt.Errorf("field '%s': a default for kind %d", f.name, f.kind)
}

// appendEnum writes an enum as its name; a number no table names is
// written as a bare number, the only lossless choice left.
func appendEnum(b []byte, enumType string, n int32) []byte {
	if name, ok := enumName(enumType, n); ok {
		return appendString(b, name)
	}
	return strconv.AppendInt(b, int64(n), 10)
}

// appendFloat writes a double the way Mesos does for finite values: always
// with a decimal point ("5.0"), but with Go's shortest exact digits rather
// than stout's 15 significant ones, so values round-trip. JSON has no
// NaN or infinities (stout would emit invalid JSON); they are written as
// the strings "NaN", "Infinity" and "-Infinity", which Unmarshal and Mesos'
// own parser accept for doubles.
func appendFloat(b []byte, v float64, bits int) []byte {
	switch {
	case math.IsNaN(v):
		return append(b, `"NaN"`...)
	case math.IsInf(v, 1):
		return append(b, `"Infinity"`...)
	case math.IsInf(v, -1):
		return append(b, `"-Infinity"`...)
	}
	// Plain notation where it is readable, as stout's %g does for the
	// magnitudes Mesos uses (timestamps, seconds, resources); the same
	// cut-offs as encoding/json.
	format := byte('f')
	if abs := math.Abs(v); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	start := len(b)
	b = strconv.AppendFloat(b, v, format, -1, bits)
	for _, c := range b[start:] {
		if c == '.' || c == 'e' {
			return b
		}
	}
	return append(b, ".0"...)
}

// appendBytes writes standard base64 with padding, as stout's
// base64::encode does.
func appendBytes(b []byte, v []byte) []byte {
	b = append(b, '"')
	b = base64.StdEncoding.AppendEncode(b, v)
	return append(b, '"')
}

const hexDigits = "0123456789abcdef"

// appendString writes a JSON string. Unlike encoding/json it does not
// escape <, > and &, matching stout's writer; invalid UTF-8 becomes U+FFFD.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
