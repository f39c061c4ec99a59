package config

import (
	"bytes"
	"fmt"

	"github.com/healer-mesos/healer/executor/monitorconfig"
)

// checkSecretFile checks at start-up that --secret_file names a regular,
// readable, non-empty file, so a typo in the path stops healer now rather
// than at its first subscription. The secret itself is never put into a
// message. It remembers the file's mode for Warnings.
func (c *Config) checkSecretFile(read readFunc) []error {
	if c.SecretFile == "" {
		return nil
	}
	where := c.label("secret_file")
	data, mode, err := read(c.SecretFile)
	switch {
	case err != nil:
		return []error{fmt.Errorf("%s: cannot read the principal's secret: %w (give a readable file that holds the secret of --principal)", where, err)}
	case !mode.IsRegular():
		return []error{fmt.Errorf("%s: not a regular file (%s); give a file that holds the secret of --principal", where, mode.Type())}
	case len(bytes.TrimSpace(data)) == 0:
		return []error{fmt.Errorf("%s: the file is empty; write the secret of --principal into it", where)}
	}
	c.secretMode = mode
	return nil
}

// Warnings are things about a valid configuration that an operator should
// fix but that need not stop healer, one sentence each, for the log.
func (c Config) Warnings() []string {
	var w []string
	if c.ZK == "" {
		w = append(w, "no --zk: healer's state would be kept in memory only and lost on restart; use this for trial runs only")
	}
	if c.AdminInsecure {
		w = append(w, "--admin_insecure: ANYONE who can reach the admin port can pause healer, isolate agents and force repairs; use --admin_tokens for anything but a trial")
	}
	if c.secretMode&0o077 != 0 {
		// As Mesos warns about its own credential files.
		w = append(w, fmt.Sprintf("--secret_file %s can be read by group or others (mode %#o); chmod 600 it", c.SecretFile, c.secretMode.Perm()))
	}
	return w
}

// loadMonitorConfig reads and validates --monitor_config at start-up, so a
// bad monitor configuration stops healer here rather than fail on every
// agent.
func (c *Config) loadMonitorConfig(read readFunc) []error {
	if c.MonitorConfig == "" {
		return nil
	}
	where := c.label("monitor_config")
	data, _, err := read(c.MonitorConfig)
	if err != nil {
		return []error{fmt.Errorf("%s: cannot read the monitor configuration: %w (give a readable YAML or JSON file, see docs/monitor.md)", where, err)}
	}
	m, err := monitorconfig.Parse(c.MonitorConfig, data)
	if err != nil {
		return []error{fmt.Errorf("%s: %w", where, err)}
	}
	c.Monitor = m
	return nil
}
