package governance

// ResourceGroup shapes a class's resource group inside each Trino cluster
// (rendered by `switchyard trino resource-groups`). To be completed.
type ResourceGroup struct {
	// SoftMemoryLimit is the group's share of the cluster's memory ("40%")
	// or a size ("10GB").
	SoftMemoryLimit string `json:"softMemoryLimit"`
}

func (g ResourceGroup) validate(path string, c *Class) error { return nil }

// TrinoSettings shape the rendered resource groups as a whole.
type TrinoSettings struct{}

func (t TrinoSettings) validate(path string) error { return nil }
