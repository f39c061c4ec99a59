// Package docs is healer's operator documentation (the Markdown files in
// this directory). It has no code; its tests keep the documentation honest
// cheaply: every link resolves, every message the troubleshooting guide
// quotes is still emitted, and every HEALER_*, REPAIR_* and healer_* name
// it mentions exists. The flags table of configuration.md is kept current
// by scheduler/config's TestFlagsTableIsCurrent.
package docs
