package emulator

import (
	"crypto/rand"
	"fmt"
)

// newUUIDBytes returns a random RFC 4122 version 4 UUID.
func newUUIDBytes() []byte {
	var u [16]byte
	if _, err := rand.Read(u[:]); err != nil {
		panic(fmt.Sprintf("emulator: crypto/rand failed: %v", err)) // cannot happen on Linux
	}
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return u[:]
}

// newUUIDString returns a random UUID in its canonical 36-character form.
func newUUIDString() string {
	return formatUUID(newUUIDBytes())
}

// formatUUID formats 16 bytes as a canonical UUID string.
func formatUUID(u []byte) string {
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

// validUUID reports whether b decodes as a UUID the way Mesos' UUID::fromBytes
// accepts it: 16 bytes with a version nibble of 1–5.
func validUUID(b []byte) bool {
	if len(b) != 16 {
		return false
	}
	v := b[6] >> 4
	return v >= 1 && v <= 5
}
