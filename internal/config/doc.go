// Package config loads oemeshd's configuration with viper: a YAML (or TOML,
// by extension) file, overridden by OEMESH_* environment variables, overridden
// by command-line flags. Every key is checked against a schema: an unknown
// key, a value of the wrong type or an invalid value is an error naming the
// key and where it came from (the file, the variable or the flag).
//
// It lives in internal/ because both commands, oemeshd and oemesh, read it.
// It must never import the domain packages (oe, ike, kernel, dnskey,
// policygroups): it produces plain values that the daemon's wiring hands to
// them.
package config
