package main

import (
	"fmt"
	"os"

	"gopkg.in/yaml.v3"

	"github.com/transcoder/transcoder/internal/storage"
	"github.com/transcoder/transcoder/pipeline"
)

// fileConfig is the part of transcoder.yaml the one-off commands read:
// the stores that NAME:// locations name.
type fileConfig struct {
	Stores map[string]storage.StoreConfig `yaml:"stores"`
}

// loadStores reads the stores of a config file; no file gives no
// configured stores (s3:// then uses the AWS_* variables).
func loadStores(path string) (*storage.Stores, error) {
	var cfg fileConfig
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		if data, err = pipeline.ExpandEnv(data); err != nil {
			return nil, fmt.Errorf("config %s: %w", path, err)
		}
		if err := yaml.Unmarshal(data, &cfg); err != nil {
			return nil, fmt.Errorf("config %s: %w", path, err)
		}
	}
	s, err := storage.NewStores(cfg.Stores)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return s, nil
}
