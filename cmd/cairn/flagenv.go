package main

// Flags that fall back to an environment variable: `--data` unless given,
// else $CAIRN_DATA, else the flag's default. Each is defined and bound to
// its variable in one call, so the binding cannot name a flag that does not
// exist; applyEnv fills the flags the command line did not set, after
// parsing (ADR 0050).

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/pflag"
)

// envAnnotation is the flag annotation naming its environment variable.
const envAnnotation = "cairn_env"

// bindEnv records that f falls back to the environment variable env, and
// returns f.
func bindEnv(f *pflag.Flag, env string) *pflag.Flag {
	if f.Annotations == nil {
		f.Annotations = map[string][]string{}
	}
	f.Annotations[envAnnotation] = []string{env}
	return f
}

// envStringVar defines a string flag that falls back to env, and returns it.
func envStringVar(fs *pflag.FlagSet, p *string, name, env, value, usage string) *pflag.Flag {
	fs.StringVar(p, name, value, usage)
	return bindEnv(fs.Lookup(name), env)
}

// envIntVar defines an int flag that falls back to env, and returns it.
func envIntVar(fs *pflag.FlagSet, p *int, name, env string, value int, usage string) *pflag.Flag {
	fs.IntVar(p, name, value, usage)
	return bindEnv(fs.Lookup(name), env)
}

// envFloat64Var defines a float64 flag that falls back to env, and returns it.
func envFloat64Var(fs *pflag.FlagSet, p *float64, name, env string, value float64, usage string) *pflag.Flag {
	fs.Float64Var(p, name, value, usage)
	return bindEnv(fs.Lookup(name), env)
}

// envDurationVar defines a duration flag that falls back to env, and returns it.
func envDurationVar(fs *pflag.FlagSet, p *time.Duration, name, env string, value time.Duration, usage string) *pflag.Flag {
	fs.DurationVar(p, name, value, usage)
	return bindEnv(fs.Lookup(name), env)
}

// applyEnv sets every flag of fs that the command line did not set, and
// whose environment variable is set and not empty, from that variable. A
// value that does not parse is an error naming the variable.
func applyEnv(fs *pflag.FlagSet) error {
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		env := f.Annotations[envAnnotation]
		if err != nil || f.Changed || len(env) == 0 {
			return
		}
		v := os.Getenv(env[0])
		if v == "" {
			return
		}
		if f.Value.Set(v) != nil {
			err = fmt.Errorf("%s=%q: %s", env[0], v, notA(f.Value.Type()))
		}
	})
	return err
}

// notA words a parse failure for a flag type.
func notA(typ string) string {
	switch typ {
	case "int", "int64", "uint64":
		return "not an integer"
	case "float64":
		return "not a number"
	case "duration":
		return "not a duration (e.g. 30s)"
	}
	return "not a " + typ
}
