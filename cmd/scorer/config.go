package main

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/loan-scorer/loan-scorer/internal/service"
)

// envPrefix prefixes every environment variable of the configuration:
// batch.max_size is SCORER_BATCH_MAX_SIZE.
const envPrefix = "SCORER"

// configFlag is a command-line flag that sets a configuration key.
type configFlag struct{ flag, key, usage string }

// configFlags maps serve's command-line flags to the configuration keys they set.
var configFlags = []configFlag{
	{"model", "model.path", "model file (.cbm, CatBoost JSON, LightGBM text, XGBoost JSON); default: the demo model"},
	{"nats-url", "nats.url", "NATS server or cluster URL; default: start the embedded server"},
	{"http-addr", "http.addr", "HTTP listen address"},
	{"log-level", "log.level", "debug, info, warn or error"},
	{"log-format", "log.format", "text or json"},
}

// addConfigFlags adds --config and the flags that override keys.
func addConfigFlags(fs *pflag.FlagSet) {
	fs.String("config", "", "configuration file (YAML; see configs/scorer.yaml)")
	for _, f := range configFlags {
		fs.String(f.flag, "", f.usage+" (key "+f.key+")")
	}
}

// loadConfig builds the configuration: defaults, then the file named by
// --config, then SCORER_* environment variables, then flags (flag > env >
// file > default). Unknown keys in the file, SCORER_* variables that match
// no key, and invalid values are errors that name the key.
func loadConfig(fs *pflag.FlagSet) (service.Config, error) {
	return loadConfigFor(fs, configFlags, false)
}

// loadConfigFor is loadConfig with the flags a command binds to keys
// (flags), for serve (client false) or for a command that talks to a
// running NATS (client true: ingest, sink parquet, bench, result). A
// client also reads NATS_URL, as the nats CLI does (below SCORER_NATS_URL,
// above the file), and with no nats.url at all connects to where serve's
// embedded server listens (nats.embedded.host and port).
func loadConfigFor(fs *pflag.FlagSet, flags []configFlag, client bool) (service.Config, error) {
	def := service.DefaultConfig()
	keys := map[string]any{}
	flattenDefaults(reflect.ValueOf(def), "", keys)

	v := viper.New()
	for k, val := range keys {
		v.SetDefault(k, val)
	}
	v.SetEnvPrefix(envPrefix)
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	v.AutomaticEnv()
	if client {
		if err := v.BindEnv("nats.url", envName("nats.url"), "NATS_URL"); err != nil {
			return service.Config{}, fmt.Errorf("NATS_URL: %w", err)
		}
	}
	if err := checkEnv(os.Environ(), keys); err != nil {
		return service.Config{}, err
	}
	if path, _ := fs.GetString("config"); path != "" {
		if err := checkFile(path, keys); err != nil {
			return service.Config{}, err
		}
		v.SetConfigFile(path)
		if err := v.ReadInConfig(); err != nil {
			return service.Config{}, fmt.Errorf("read config %s: %w", path, err)
		}
	}
	for _, f := range flags {
		if fl := fs.Lookup(f.flag); fl != nil && fl.Changed {
			if err := v.BindPFlag(f.key, fl); err != nil {
				return service.Config{}, fmt.Errorf("flag --%s: %w", f.flag, err)
			}
		}
	}
	var cfg service.Config
	if err := v.UnmarshalExact(&cfg, viper.DecodeHook(mapstructure.ComposeDecodeHookFunc(
		strictDurationHook,
		mapstructure.StringToTimeDurationHookFunc(),
		splitStringHook,
	))); err != nil {
		return service.Config{}, fmt.Errorf("configuration: %w", err)
	}
	if client && cfg.NATS.URL == "" {
		cfg.NATS.URL = cfg.NATS.Embedded.ClientURL()
	}
	if err := cfg.Validate(); err != nil {
		return service.Config{}, fmt.Errorf("configuration: %w", err)
	}
	return cfg, nil
}

var durationType = reflect.TypeFor[time.Duration]()

// flattenDefaults records every leaf of the configuration struct under its
// dotted key, so that every key has a default (env overrides only reach
// Unmarshal for keys viper knows) and the key list is the code's own.
func flattenDefaults(val reflect.Value, prefix string, out map[string]any) {
	t := val.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("mapstructure")
		name, opts, _ := strings.Cut(tag, ",")
		fv := val.Field(i)
		if opts == "squash" {
			flattenDefaults(fv, prefix, out)
			continue
		}
		if name == "" || name == "-" {
			continue
		}
		key := prefix + name
		if f.Type.Kind() == reflect.Struct && f.Type != durationType {
			flattenDefaults(fv, key+".", out)
			continue
		}
		out[key] = fv.Interface()
	}
}

// envName is the environment variable of a key.
func envName(key string) string {
	return envPrefix + "_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// checkEnv refuses SCORER_* variables that match no key (a typo would be
// silently ignored otherwise).
func checkEnv(environ []string, keys map[string]any) error {
	known := make(map[string]bool, len(keys))
	for k := range keys {
		known[envName(k)] = true
	}
	var unknown []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if name == failpointEnv {
			continue // test-only crash point of the Parquet sink, not a key
		}
		if strings.HasPrefix(name, envPrefix+"_") && !known[name] {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	sort.Strings(unknown)
	return fmt.Errorf("environment: %s match no configuration key (keys map to SCORER_<KEY> with '.' as '_', e.g. SCORER_BATCH_MAX_SIZE)", strings.Join(unknown, ", "))
}

// checkFile refuses keys in the file that the configuration does not have.
func checkFile(path string, keys map[string]any) error {
	f := viper.New()
	f.SetConfigFile(path)
	if err := f.ReadInConfig(); err != nil {
		return fmt.Errorf("read config %s: %w", path, err)
	}
	var unknown []string
	for _, k := range f.AllKeys() {
		if _, ok := keys[k]; !ok {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	slices.Sort(unknown)
	return fmt.Errorf("config %s: unknown keys %s", path, strings.Join(unknown, ", "))
}

// strictDurationHook refuses bare numbers for durations: "ack_wait: 30"
// would otherwise mean 30 nanoseconds.
func strictDurationHook(from, to reflect.Type, data any) (any, error) {
	if to != durationType {
		return data, nil
	}
	switch from.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		if from == durationType {
			return data, nil
		}
		return nil, errors.New("want a duration with a unit, like 30s or 2ms, not a bare number")
	}
	return data, nil
}

// splitStringHook reads a comma-separated string (an environment variable
// or flag) into a list.
func splitStringHook(from, to reflect.Type, data any) (any, error) {
	if from.Kind() != reflect.String || to.Kind() != reflect.Slice {
		return data, nil
	}
	s := data.(string)
	if strings.TrimSpace(s) == "" {
		return []string{}, nil
	}
	parts := strings.Split(s, ",")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return parts, nil
}
