package config

import (
	"testing"
)

// The example configuration a new user starts from is valid, and means
// what its comments say.
func TestExampleConfiguration(t *testing.T) {
	t.Chdir("../..") // its policy.dir is relative to the repository root
	t.Setenv("SWITCHYARD_ADMIN_TOKEN", "an-example-token-0123456789")
	for _, c := range []string{"BLUE", "GREEN", "ETL"} {
		t.Setenv("SWITCHYARD_EVENTS_"+c, "events-secret-of-"+c)
	}
	c, err := Load("deploy/switchyard.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Store.Type != StoreRedis || c.Store.Redis.Mode != RedisStandalone || len(c.ControlPlane.ExtProcTargets) != 2 {
		t.Errorf("store %+v, ext_proc targets %v", c.Store, c.ControlPlane.ExtProcTargets)
	}
	if len(c.Groups) != 2 || c.Groups[0].Fallback != "etl" || len(c.Clusters) != 3 || c.Clusters[1].State != StateInactive ||
		c.Clusters[0].Coordinators[1].Role != RoleStandby || c.Admin.Tokens[0].TokenHash != HashToken("an-example-token-0123456789") {
		t.Errorf("groups %+v, clusters %+v, tokens %+v", c.Groups, c.Clusters, c.Admin.Tokens)
	}
	if len(c.ControlPlane.QueueTargets) != 2 || c.Events.SecretsByValue()["events-secret-of-GREEN"] != "green" || c.Governance.SlotTTL.Seconds() != 30 {
		t.Errorf("queue targets %v, event secrets %+v, governance %+v", c.ControlPlane.QueueTargets, c.Events.Secrets, c.Governance)
	}
	t.Setenv("SWITCHYARD_ADMIN_TOKEN", "")
	if _, err := Load("deploy/switchyard.yaml"); err == nil {
		t.Error("loaded without the admin token in the environment")
	}
}
