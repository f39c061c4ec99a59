package coordinator

import (
	"strings"
	"unicode/utf8"
)

// Bounds on the text that reaches the coordinator from outside healer: from
// monitors (signals), operators (commands), repair commands (output) and
// Mesos (agents). Every record the coordinator emits is built from bounded
// text, so it always fits the store's limit (scheduler/store's
// MaxRecordBytes, well under ZooKeeper's 1 MB node limit): a monitor that
// posts a 10 MB message must not make an agent's state unpersistable.
//
// Names select or identify something (a problem selects a ladder, a
// principal is audited, a hostname finds a machine): an event whose name is
// empty where one is required, over its bound, not UTF-8 or holding a
// control character is refused with a sentinel error (ErrBadProblem,
// ErrBadPrincipal, ErrBadAgentID, ErrBadHostname, ErrBadZone); clipping
// one could make it select or name something else.
//
// Descriptive text (a signal's source and message, an operator's reason, a
// step's output) is clipped instead: invalid UTF-8 is replaced by U+FFFD,
// and text over its bound is cut on a rune boundary and marked with "…"
// (ClipMarker) where it was cut, so that it stays valid UTF-8 (proto
// strings must be) and within the bound, marker included. Messages and
// reasons keep their beginning; output keeps its end, where the error
// usually is. Text within its bound and valid UTF-8 passes unchanged and
// unallocated.
const (
	// MaxProblemBytes bounds a problem name. The config file's ladder
	// names (at most 63 characters) are always within it.
	MaxProblemBytes = 128
	// MaxPrincipalBytes bounds an operator command's principal.
	MaxPrincipalBytes = 128
	// MaxSourceBytes bounds a signal's source (clipped).
	MaxSourceBytes = 128
	// MaxMessageBytes bounds a signal's message (clipped).
	MaxMessageBytes = 1024
	// MaxReasonBytes bounds an operator command's reason (clipped): the
	// pause reason, an isolation's note, a forced incident's message.
	MaxReasonBytes = 1024
	// MaxOutputTailBytes bounds a step outcome's output tail (clipped,
	// keeping the end). With HistoryLen attempts it keeps an agent record
	// to a few tens of KB.
	MaxOutputTailBytes = 4096
	// MaxHostnameBytes bounds an agent's hostname: 255, DNS's limit.
	MaxHostnameBytes = 255
	// MaxZoneBytes bounds an agent's fault-domain zone.
	MaxZoneBytes = 255
	// MaxAgentIDBytes bounds an agent id (Mesos's are about 40 bytes).
	MaxAgentIDBytes = 255
)

// ClipMarker marks where clipped text was cut.
const ClipMarker = "…"

// validName reports whether s is at most max bytes of UTF-8 without control
// characters (C0, DEL, C1). It does not allocate.
func validName(s string, max int) bool {
	if len(s) > max {
		return false
	}
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f {
				return false
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 || r >= 0x80 && r < 0xa0 {
			return false
		}
		i += n
	}
	return true
}

// clipText returns s as valid UTF-8 of at most max bytes, keeping its
// beginning; a cut is marked with ClipMarker at the end.
func clipText(s string, max int) string {
	if len(s) <= max && utf8.ValidString(s) {
		return s
	}
	w, cut := s, false
	if len(w) > max {
		// Do not split the rune at the cut; a stray continuation byte is
		// garbage and is replaced below.
		i := max
		for k := 0; k < utf8.UTFMax-1 && i > 0 && !utf8.RuneStart(s[i]); k++ {
			i--
		}
		w, cut = s[:i], true
	}
	w = strings.ToValidUTF8(w, string(utf8.RuneError))
	if !cut && len(w) <= max {
		return w
	}
	for len(w) > max-len(ClipMarker) {
		_, n := utf8.DecodeLastRuneInString(w)
		w = w[:len(w)-n]
	}
	return w + ClipMarker
}

// clipTail returns s as valid UTF-8 of at most max bytes, keeping its end;
// a cut is marked with ClipMarker at the beginning.
func clipTail(s string, max int) string {
	if len(s) <= max && utf8.ValidString(s) {
		return s
	}
	w, cut := s, false
	if len(w) > max {
		i := len(s) - max
		for k := 0; k < utf8.UTFMax-1 && i < len(s) && !utf8.RuneStart(s[i]); k++ {
			i++
		}
		w, cut = s[i:], true
	}
	w = strings.ToValidUTF8(w, string(utf8.RuneError))
	if !cut && len(w) <= max {
		return w
	}
	for len(w) > max-len(ClipMarker) {
		_, n := utf8.DecodeRuneInString(w)
		w = w[n:]
	}
	return ClipMarker + w
}

// shown clips text from outside for a decision or an error message about
// an event that was refused (a bad name is shown, not kept).
func shown(s string) string { return clipText(s, MaxHostnameBytes) }

// shownID is shown for an agent id.
func shownID(id AgentID) AgentID { return AgentID(shown(string(id))) }
