package config

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// EnvPrefix starts every environment variable tokenguard reads.
const EnvPrefix = "TOKENGUARD_"

// Field describes one scalar setting: its YAML key, the environment variable
// that overrides it, and its default.
type Field struct {
	Key     string
	Env     string
	Default string
	Secret  bool
}

// Fields lists every setting that can be given in the environment, in file
// order. Lists of structures (keys, clients) are file-only. The environment
// variable of a key is TOKENGUARD_ and the key in capitals with dots as
// underscores: redis.addrs is TOKENGUARD_REDIS_ADDRS.
func Fields() []Field {
	var out []Field
	def := Default()
	eachScalar(reflect.ValueOf(&def).Elem(), "", func(key string, v reflect.Value, secret bool) {
		out = append(out, Field{Key: key, Env: envName(key), Default: format(v), Secret: secret})
	})
	return out
}

func envName(key string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

var durationType = reflect.TypeOf(time.Duration(0))

// eachScalar calls fn for every field that the environment can set: strings,
// bools, integers, durations and lists of strings, in nested structs too.
func eachScalar(v reflect.Value, prefix string, fn func(key string, v reflect.Value, secret bool)) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		key := name
		if prefix != "" {
			key = prefix + "." + name
		}
		fv := v.Field(i)
		switch {
		case fv.Kind() == reflect.Struct:
			eachScalar(fv, key, fn)
		case fv.Kind() == reflect.Slice && fv.Type().Elem().Kind() != reflect.String:
			// Lists of structures are file-only.
		default:
			fn(key, fv, f.Tag.Get("secret") == "true")
		}
	}
}

// applyEnv sets every field whose environment variable is set and not empty.
func applyEnv(cfg *Config, getenv func(string) string) error {
	var err error
	eachScalar(reflect.ValueOf(cfg).Elem(), "", func(key string, v reflect.Value, _ bool) {
		if err != nil {
			return
		}
		name := envName(key)
		raw := getenv(name)
		if raw == "" {
			return
		}
		if perr := parseInto(v, raw); perr != nil {
			err = fmt.Errorf("%s (setting %q): %w", name, key, perr)
		}
	})
	return err
}

func parseInto(v reflect.Value, raw string) error {
	switch {
	case v.Type() == durationType:
		d, err := time.ParseDuration(raw)
		if err != nil {
			return fmt.Errorf("invalid duration %q (use Go syntax like 15m or 30s)", raw)
		}
		v.SetInt(int64(d))
	case v.Kind() == reflect.String:
		v.SetString(raw)
	case v.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return fmt.Errorf("invalid boolean %q", raw)
		}
		v.SetBool(b)
	case v.Kind() == reflect.Int || v.Kind() == reflect.Int64:
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil {
			return fmt.Errorf("invalid integer %q", raw)
		}
		v.SetInt(n)
	case v.Kind() == reflect.Slice:
		var items []string
		for _, s := range strings.Split(raw, ",") {
			if s = strings.TrimSpace(s); s != "" {
				items = append(items, s)
			}
		}
		v.Set(reflect.ValueOf(items))
	default:
		return fmt.Errorf("unsupported type %s", v.Type())
	}
	return nil
}

func format(v reflect.Value) string {
	switch {
	case v.Type() == durationType:
		return time.Duration(v.Int()).String()
	case v.Kind() == reflect.Slice:
		parts := make([]string, v.Len())
		for i := range parts {
			parts[i] = v.Index(i).String()
		}
		return strings.Join(parts, ",")
	default:
		return fmt.Sprint(v.Interface())
	}
}
