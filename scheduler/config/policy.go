package config

import (
	"fmt"
	"maps"
	"slices"

	"github.com/healer-mesos/healer/scheduler/coordinator"
)

// The built-in defaults of the settings the coordinator consumes are the
// coordinator's own (coordinator.DefaultPolicy), so the two can never
// disagree; Default copies them and Policy copies them back.

// policyDefaults fills c's policy settings from coordinator.DefaultPolicy.
func (c *Config) policyDefaults() {
	p := coordinator.DefaultPolicy()
	c.Mode = p.Mode
	c.Isolation = p.Isolation
	c.RepairOrder = slices.Clone(p.DefaultLadder)
	c.StepTimeout = p.DefaultStepTimeout
	c.NumAllowedRepairs = p.NumAllowedRepairs
	c.ZoneCap = p.ZoneCap
	c.MaxUnhealthy = Threshold{Percent: p.MaxUnhealthyPercent, IsPercent: true}
	c.MaxUnhealthyMin = p.MaxUnhealthyMin
	c.MinRepairSpacing = p.MinSpacing
	c.Probation = p.Probation
	c.ResetAfter = p.ResetAfter
	c.OfferTimeout = p.OfferTimeout
	c.DrainTimeout = p.DrainTimeout
	c.KillConfirmTimeout = p.KillConfirmTimeout
}

// Policy converts the configuration into the coordinator's Policy and
// validates it there too. Call it on a Config from Load.
func (c Config) Policy() (coordinator.Policy, error) {
	p := coordinator.DefaultPolicy()
	p.Mode = c.Mode
	p.Isolation = c.Isolation
	p.DefaultLadder = slices.Clone(c.RepairOrder)
	p.Ladders = nil
	if len(c.Ladders) > 0 {
		p.Ladders = make(map[string]coordinator.Ladder, len(c.Ladders))
		for problem, steps := range c.Ladders {
			p.Ladders[problem] = slices.Clone(steps)
		}
	}
	p.DefaultStepTimeout = c.StepTimeout
	p.NumAllowedRepairs = c.NumAllowedRepairs
	p.ZoneCap = c.ZoneCap
	p.ZoneCaps = maps.Clone(c.ZoneCaps)
	// The breaker trips when unhealthy > MaxUnhealthyMin and unhealthy >
	// percent of known. An absolute count N is "unhealthy > N": percent 0
	// and a minimum of N (or the configured minimum, if larger).
	if c.MaxUnhealthy.IsPercent {
		p.MaxUnhealthyPercent = c.MaxUnhealthy.Percent
		p.MaxUnhealthyMin = c.MaxUnhealthyMin
	} else {
		p.MaxUnhealthyPercent = 0
		p.MaxUnhealthyMin = max(c.MaxUnhealthy.Count, c.MaxUnhealthyMin)
	}
	p.MinSpacing = c.MinRepairSpacing
	p.Probation = c.Probation
	p.ResetAfter = c.ResetAfter
	p.OfferTimeout = c.OfferTimeout
	p.DrainTimeout = c.DrainTimeout
	p.KillConfirmTimeout = c.KillConfirmTimeout
	if err := p.Validate(); err != nil {
		return coordinator.Policy{}, fmt.Errorf("config: the coordinator rejects this configuration: %w", err)
	}
	return p, nil
}
