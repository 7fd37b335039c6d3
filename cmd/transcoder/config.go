package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/transcoder/transcoder/internal/storage"
)

// fileConfig is the part of transcoder.yaml the one-off commands read:
// the stores that NAME:// locations name.
type fileConfig struct {
	Stores map[string]storage.StoreConfig `yaml:"stores"`
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// expandEnv replaces ${NAME} with the environment variable NAME, so that
// secrets stay out of the file. Only the braced form is expanded: a bare $
// in a value (a password, say) is left alone. An unset variable is an
// error naming the line.
func expandEnv(data []byte) ([]byte, error) {
	var missing []string
	out := envRef.ReplaceAllFunc(data, func(m []byte) []byte {
		name := string(envRef.FindSubmatch(m)[1])
		v, ok := os.LookupEnv(name)
		if !ok {
			line := bytes.Count(data[:bytes.Index(data, m)], []byte("\n")) + 1
			missing = append(missing, fmt.Sprintf("line %d: ${%s} is not set in the environment", line, name))
		}
		return []byte(v)
	})
	if len(missing) > 0 {
		return nil, errors.New(strings.Join(missing, "; "))
	}
	return out, nil
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
		if data, err = expandEnv(data); err != nil {
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
