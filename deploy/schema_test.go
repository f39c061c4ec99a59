package deploy

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
)

// Marathon's app definition, as far as healer's app may use it.
//
// The field names, types and enumerations are those of Marathon's own API
// schema: the RAML types under docs/docs/rest-api/public/api/v2/types/ of
// github.com/mesosphere/marathon at 90619da70d79a2ecf19368a21c6a695ea981bd74
// (the repository's last commit, July 2021; Marathon 1.10/1.11):
//
//	app.raml             App, UpgradeStrategy
//	appContainer.raml    Container, DockerContainer, DockerParameter, ContainerPortMapping
//	volumes.raml         AppHostVolume
//	network.raml         Network, PortDefinition
//	healthCheck.raml     AppHealthCheck, AppCommandCheck
//	readinessCheck.raml  ReadinessCheck
//	unreachableStrategy.raml  UnreachableStrategy (disabled, or UnreachableEnabled)
//	constraint.raml      AppConstraint ([field, operator(, value)]), ConstraintOperator
//	artifact.raml        Artifact
//	environmentVariable.raml  LegacyEnvVars (string values, or {"secret": name})
//	stringTypes.raml     ReadMode, NetworkProtocol, IpProtocol, HttpScheme
//
// Every field of App is listed. Nested types healer's app has no use for
// (residency, secrets, ipAddress, check, executorResources,
// resourceLimits, versionInfo, persistent and external volumes, linuxInfo,
// ...) are "described elsewhere": using one fails the test until its fields
// are written down here from the schema, so no field is ever taken on trust.

// shape is what a JSON value must look like.
type shape interface {
	check(path string, v any) []string
}

// object allows exactly the listed fields.
type object map[string]shape

func (o object) check(path string, v any) []string {
	m, ok := v.(map[string]any)
	if !ok {
		return []string{fmt.Sprintf("%s: want an object, got %s", path, kind(v))}
	}
	var errs []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		s, ok := o[k]
		if !ok {
			errs = append(errs, fmt.Sprintf("%s.%s: not a field of Marathon's schema here (allowed: %s)",
				path, k, strings.Join(slices.Sorted(maps.Keys(o)), ", ")))
			continue
		}
		errs = append(errs, s.check(path+"."+k, m[k])...)
	}
	return errs
}

// arrayOf is a JSON array whose items all have one shape.
type arrayOf struct{ item shape }

func (a arrayOf) check(path string, v any) []string {
	l, ok := v.([]any)
	if !ok {
		return []string{fmt.Sprintf("%s: want an array, got %s", path, kind(v))}
	}
	var errs []string
	for i, x := range l {
		errs = append(errs, a.item.check(fmt.Sprintf("%s[%d]", path, i), x)...)
	}
	return errs
}

// mapOf is an object with free keys whose values have one shape (env, labels).
type mapOf struct{ value shape }

func (m mapOf) check(path string, v any) []string {
	o, ok := v.(map[string]any)
	if !ok {
		return []string{fmt.Sprintf("%s: want an object, got %s", path, kind(v))}
	}
	var errs []string
	for _, k := range slices.Sorted(maps.Keys(o)) {
		errs = append(errs, m.value.check(path+"."+k, o[k])...)
	}
	return errs
}

// str is a string, one of enum when given.
type str struct{ enum []string }

func (s str) check(path string, v any) []string {
	x, ok := v.(string)
	if !ok {
		return []string{fmt.Sprintf("%s: want a string, got %s", path, kind(v))}
	}
	if len(s.enum) > 0 && !slices.Contains(s.enum, x) {
		return []string{fmt.Sprintf("%s: %q is not one of %s", path, x, strings.Join(s.enum, ", "))}
	}
	return nil
}

// num is a number within [min, max]; integer when whole is set.
type num struct {
	whole    bool
	min, max float64
}

func (n num) check(path string, v any) []string {
	x, ok := v.(float64)
	if !ok {
		return []string{fmt.Sprintf("%s: want a number, got %s", path, kind(v))}
	}
	if n.whole && x != math.Trunc(x) {
		return []string{fmt.Sprintf("%s: want an integer, got %v", path, x)}
	}
	if x < n.min || x > n.max {
		return []string{fmt.Sprintf("%s: %v is outside [%v, %v]", path, x, n.min, n.max)}
	}
	return nil
}

type boolean struct{}

func (boolean) check(path string, v any) []string {
	if _, ok := v.(bool); !ok {
		return []string{fmt.Sprintf("%s: want true or false, got %s", path, kind(v))}
	}
	return nil
}

// anyOf accepts what one of its shapes accepts.
type anyOf []shape

func (a anyOf) check(path string, v any) []string {
	var all []string
	for _, s := range a {
		errs := s.check(path, v)
		if len(errs) == 0 {
			return nil
		}
		all = append(all, errs...)
	}
	return []string{fmt.Sprintf("%s: matches none of its forms: %s", path, strings.Join(all, "; "))}
}

// constraint is an AppConstraint: [field, operator] or [field, operator, value].
type constraint struct{}

var constraintOperators = []string{"UNIQUE", "CLUSTER", "GROUP_BY", "LIKE", "UNLIKE", "MAX_PER", "IS"}

func (constraint) check(path string, v any) []string {
	l, ok := v.([]any)
	if !ok || len(l) < 2 || len(l) > 3 {
		return []string{fmt.Sprintf("%s: want [field, operator] or [field, operator, value]", path)}
	}
	errs := str{}.check(path+"[0]", l[0])
	errs = append(errs, str{enum: constraintOperators}.check(path+"[1]", l[1])...)
	if len(l) == 3 {
		errs = append(errs, str{}.check(path+"[2]", l[2])...)
	}
	return errs
}

// describedElsewhere is a field the schema has but this test does not
// describe: healer's app must not use it until it is described.
type describedElsewhere string

func (d describedElsewhere) check(path string, _ any) []string {
	return []string{fmt.Sprintf("%s: a Marathon field (%s) this test does not describe yet: "+
		"copy its fields from Marathon's schema into deploy/schema_test.go before using it", path, string(d))}
}

var (
	integer   = num{whole: true, min: 0, max: math.MaxInt32}
	port      = num{whole: true, min: 0, max: 65535}
	fraction  = num{min: 0, max: 1}
	anyString = str{}
	kvLabels  = mapOf{anyString}
)

// marathonApp is App of app.raml.
var marathonApp = object{
	"id":                    anyString,
	"acceptedResourceRoles": arrayOf{anyString},
	"args":                  arrayOf{anyString},
	"backoffFactor":         num{min: 1, max: math.MaxFloat64},
	"backoffSeconds":        integer,
	"cmd":                   anyString,
	"constraints":           arrayOf{constraint{}},
	"container": object{
		"type": str{enum: []string{"MESOS", "DOCKER"}},
		"docker": object{
			"credential":     describedElsewhere("DockerCredentials"),
			"pullConfig":     describedElsewhere("DockerPullConfig"),
			"forcePullImage": boolean{},
			"image":          anyString,
			"network":        str{enum: []string{"BRIDGE", "HOST", "NONE", "USER"}},
			"parameters":     arrayOf{object{"key": anyString, "value": anyString}},
			"portMappings":   arrayOf{portMapping},
			"privileged":     boolean{},
		},
		"linuxInfo": describedElsewhere("LinuxInfo"),
		// AppHostVolume; the persistent, external and secret volumes are
		// described elsewhere.
		"volumes": arrayOf{object{
			"containerPath": anyString,
			"hostPath":      anyString,
			"mode":          str{enum: []string{"RO", "RW"}},
		}},
		"portMappings": arrayOf{portMapping},
	},
	"cpus":              num{min: 0.001, max: math.MaxFloat64},
	"dependencies":      arrayOf{anyString},
	"disk":              num{min: 0, max: math.MaxFloat64},
	"env":               mapOf{anyOf{anyString, object{"secret": anyString}}},
	"executor":          anyString,
	"executorResources": describedElsewhere("ExecutorResources"),
	"fetch": arrayOf{object{
		"uri": anyString, "extract": boolean{}, "executable": boolean{}, "cache": boolean{}, "destPath": anyString,
	}},
	"healthChecks": arrayOf{object{
		"command":                object{"value": anyString},
		"gracePeriodSeconds":     integer,
		"ignoreHttp1xx":          boolean{},
		"intervalSeconds":        integer,
		"maxConsecutiveFailures": integer,
		"path":                   anyString,
		"port":                   port,
		"portIndex":              port,
		"protocol":               str{enum: []string{"HTTP", "HTTPS", "TCP", "COMMAND", "MESOS_TCP", "MESOS_HTTP", "MESOS_HTTPS"}},
		"ipProtocol":             str{enum: []string{"IPv4", "IPv6"}},
		"timeoutSeconds":         integer,
		"delaySeconds":           integer,
	}},
	"check":                 describedElsewhere("AppCheck"),
	"instances":             integer,
	"labels":                kvLabels,
	"maxLaunchDelaySeconds": integer,
	"mem":                   num{min: 0, max: math.MaxFloat64},
	"gpus":                  integer,
	"ipAddress":             describedElsewhere("IpAddress, deprecated for networks"),
	"networks": arrayOf{object{
		"name":   anyString,
		"mode":   str{enum: []string{"container", "container/bridge", "host"}},
		"labels": kvLabels,
	}},
	"ports": arrayOf{port},
	"portDefinitions": arrayOf{object{
		"port":     port,
		"labels":   kvLabels,
		"name":     anyString,
		"protocol": str{enum: []string{"tcp", "udp", "udp,tcp"}},
	}},
	"readinessChecks": arrayOf{object{
		"name":                    anyString,
		"protocol":                str{enum: []string{"HTTP", "HTTPS"}},
		"path":                    anyString,
		"portName":                anyString,
		"intervalSeconds":         integer,
		"timeoutSeconds":          num{whole: true, min: 1, max: math.MaxInt32},
		"httpStatusCodesForReady": arrayOf{num{whole: true, min: 100, max: 999}},
		"preserveLastResponse":    boolean{},
	}},
	"residency":                  describedElsewhere("AppResidency"),
	"resourceLimits":             describedElsewhere("ResourceLimits"),
	"requirePorts":               boolean{},
	"secrets":                    describedElsewhere("Secrets"),
	"taskKillGracePeriodSeconds": integer,
	"upgradeStrategy":            object{"maximumOverCapacity": fraction, "minimumHealthCapacity": fraction},
	"uris":                       arrayOf{anyString},
	"user":                       anyString,
	"version":                    anyString,
	"versionInfo":                describedElsewhere("VersionInfo"),
	"killSelection":              str{enum: []string{"YOUNGEST_FIRST", "OLDEST_FIRST"}},
	"unreachableStrategy": anyOf{
		str{enum: []string{"disabled"}},
		object{"inactiveAfterSeconds": num{whole: true, min: 0, max: math.MaxInt64}, "expungeAfterSeconds": num{whole: true, min: 0, max: math.MaxInt64}},
	},
	"tty":  boolean{},
	"role": anyString,
}

// portMapping is ContainerPortMapping.
var portMapping = object{
	"containerPort": port,
	"hostPort":      port,
	"labels":        kvLabels,
	"name":          anyString,
	"protocol":      str{enum: []string{"tcp", "udp", "udp,tcp"}},
	"servicePort":   port,
	"networkNames":  arrayOf{anyString},
}

func kind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case float64:
		return "a number"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}
