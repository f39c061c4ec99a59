//go:build race

package coordinator

// raceEnabled: timing budgets are not asserted under the race detector,
// which slows everything by an order of magnitude.
const raceEnabled = true
