package admin

import (
	"net/http"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/gorilla/mux"
	"gopkg.in/yaml.v3"
)

const openAPIFile = "../docs/openapi.yaml"

type openAPI struct {
	Paths map[string]map[string]struct {
		Responses   map[string]any `yaml:"responses"`
		Security    *[]any         `yaml:"security"`
		RequestBody *struct {
			Content map[string]struct {
				Schema struct {
					Ref string `yaml:"$ref"`
				} `yaml:"schema"`
			} `yaml:"content"`
		} `yaml:"requestBody"`
	} `yaml:"paths"`
	Components struct {
		Schemas map[string]struct {
			Properties map[string]any `yaml:"properties"`
		} `yaml:"schemas"`
	} `yaml:"components"`
}

// schemaTypes are the Go types the document's schemas describe.
var schemaTypes = map[string]any{
	"RepairRequest": RepairRequest{}, "RepairResponse": RepairResponse{}, "Decision": Decision{}, "Incident": Incident{},
	"Run": Run{}, "Attempt": Attempt{}, "Agent": Agent{}, "Monitor": Monitor{}, "AgentList": AgentList{}, "Status": Status{},
	"Breaker": Breaker{}, "Limits": Limits{}, "Counts": Counts{}, "CommandResponse": CommandResponse{}, "Repair": Repair{},
	"Approval": Approval{}, "RepairList": RepairList{}, "AlertResult": AlertResult{}, "AlertResponse": AlertResponse{},
	"AuditEntry": AuditEntry{}, "AuditList": AuditList{}, "WhoAmI": WhoAmI{}, "Webhook": Webhook{}, "WebhookAlert": WebhookAlert{},
	"Error": errorBody{}, "ApproveBody": approveBody{}, "CancelBody": cancelBody{}, "ForceBody": forceBody{},
	"ReasonBody": reasonBody{}, "PauseBody": reasonBody{},
}

func jsonFields(t reflect.Type) []string {
	var out []string
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// docs/openapi.yaml documents exactly the router's endpoints and methods,
// each with the errors it can answer, and the JSON fields of the types.
func TestOpenAPIMatchesTheRouter(t *testing.T) {
	data, err := os.ReadFile(openAPIFile)
	if err != nil {
		t.Fatal(err)
	}
	var doc openAPI
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	h := NewHandler(Config{Backend: &fakeBackend{}, Metrics: nil, ExecutorPath: "/bin/true"}).(*mux.Router)
	routed := map[string]bool{}
	err = h.Walk(func(r *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		path, _ := r.GetPathTemplate()
		methods, _ := r.GetMethods()
		for _, m := range methods {
			if m != http.MethodHead {
				routed[strings.ToLower(m)+" "+path] = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	routed["get /metrics"] = true // served when a registry is given
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for method, op := range ops {
			key := method + " " + path
			documented[key] = true
			if !routed[key] {
				t.Errorf("%s is documented but not routed", key)
			}
			codes := map[string]bool{}
			for c := range op.Responses {
				codes[c] = true
			}
			open := op.Security != nil && len(*op.Security) == 0
			var need []string
			switch {
			case method == "post":
				need = []string{"307", "400", "401", "403", "405", "413", "415", "503"}
			case !open:
				need = []string{"401", "405", "503"}
			}
			for _, c := range need {
				if !codes[c] {
					t.Errorf("%s does not document %s", key, c)
				}
			}
			if strings.Contains(path, "{id}") && !codes["404"] {
				t.Errorf("%s does not document 404", key)
			}
			if method == "post" && op.RequestBody == nil {
				t.Errorf("%s documents no request body", key)
			}
		}
	}
	for key := range routed {
		if !documented[key] {
			t.Errorf("%s is routed but not in %s", key, openAPIFile)
		}
	}
	for name, v := range schemaTypes {
		s, ok := doc.Components.Schemas[name]
		if !ok {
			t.Errorf("schema %s missing", name)
			continue
		}
		var props []string
		for p := range s.Properties {
			props = append(props, p)
		}
		slices.Sort(props)
		if want := jsonFields(reflect.TypeOf(v)); !slices.Equal(props, want) {
			t.Errorf("schema %s has properties %v; the Go type has %v", name, props, want)
		}
	}
	for name := range doc.Components.Schemas {
		if _, ok := schemaTypes[name]; !ok {
			t.Errorf("schema %s describes no Go type this test knows", name)
		}
	}
}
