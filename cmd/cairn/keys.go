package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/cairnhq/cairn"
	"github.com/cairnhq/cairn/client"
	"github.com/spf13/cobra"
)

func newKeysCmd(g *clientOptions) *cobra.Command {
	cmd := clientGroup(&cobra.Command{
		Use:   "keys",
		Short: "Create, list and revoke API keys (admin)",
	})
	cmd.AddCommand(newKeysCreateCmd(g), newKeysListCmd(g), newKeysRevokeCmd(g), newKeysRotatePayloadKeyCmd())
	return cmd
}

// keysCreateOptions are the flags of cairn keys create.
type keysCreateOptions struct {
	Principal, Kind, Tenant, Out string
	Roles                        []string
	JSON                         bool
	g                            *clientOptions
}

func newKeysCreateCmd(g *clientOptions) *cobra.Command {
	o := &keysCreateOptions{g: g}
	cmd := &cobra.Command{
		Use:   "create --principal P --kind human|agent|service --role R [--role R]...",
		Short: "Create an API key; the key is shown once",
		Args:  cobra.NoArgs,
		RunE: g.run(func(cmd *cobra.Command, _ []string) error {
			if err := o.Validate(); err != nil {
				return err
			}
			return o.run(cmd)
		}),
	}
	f := cmd.Flags()
	f.StringVar(&o.Principal, "principal", "", "principal id the key acts as (required)")
	f.StringVar(&o.Kind, "kind", "", "principal kind: human, agent or service (required)")
	f.StringArrayVar(&o.Roles, "role", nil, "role: "+strings.Join(cairn.AllRoles, ", ")+" (repeatable)")
	f.StringVar(&o.Tenant, "tenant", "", "tenant (default: the caller's)")
	f.StringVar(&o.Out, "out", "", "write the key to this new file (mode 0600) instead of printing it")
	f.BoolVar(&o.JSON, "json", false, "print the created key as JSON")
	markRequired(cmd, "principal", "kind")
	return cmd
}

// Validate checks --kind and --role, and splits comma-separated roles.
func (o *keysCreateOptions) Validate() error {
	if !slices.Contains([]string{cairn.KindHuman, cairn.KindAgent, cairn.KindService}, o.Kind) {
		return usageError("--kind must be human, agent or service")
	}
	var roles []string
	for _, r := range o.Roles {
		for _, x := range strings.Split(r, ",") {
			if x = strings.TrimSpace(x); x != "" {
				roles = append(roles, x)
			}
		}
	}
	if len(roles) == 0 {
		return usageError("at least one --role is required (%s)", strings.Join(cairn.AllRoles, ", "))
	}
	for _, r := range roles {
		if !slices.Contains(cairn.AllRoles, r) {
			return usageError("unknown role %q: want one of %s", r, strings.Join(cairn.AllRoles, ", "))
		}
	}
	o.Roles = roles
	return nil
}

// createOut creates --out first, so a key is never minted that cannot be
// stored; nil without --out.
func (o *keysCreateOptions) createOut() (*os.File, error) {
	if o.Out == "" {
		return nil, nil
	}
	f, err := os.OpenFile(o.Out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil, usageError("--out %s already exists", o.Out)
	}
	return f, err
}

// create mints the key; on failure the --out file is removed.
func (o *keysCreateOptions) create(cmd *cobra.Command, f *os.File) (*cairn.CreatedKey, error) {
	req := cairn.CreateKeyRequest{Principal: o.Principal, Kind: o.Kind, Roles: o.Roles, Tenant: o.Tenant}
	c, err := o.g.newClient()
	if err == nil {
		ctx, cancel := o.g.context(cmd, true)
		defer cancel()
		var k *cairn.CreatedKey
		if k, err = c.CreateKey(ctx, req); err == nil {
			return k, nil
		}
	}
	if f != nil {
		f.Close()
		os.Remove(o.Out)
	}
	return nil, err
}

func (o *keysCreateOptions) run(cmd *cobra.Command) error {
	f, err := o.createOut()
	if err != nil {
		return err
	}
	if f != nil {
		defer f.Close()
	}
	k, err := o.create(cmd, f)
	if err != nil {
		return err
	}
	if f != nil {
		if err := writeKey(f, k); err != nil {
			return fmt.Errorf("key %s was created but writing it to %s failed: %w", k.KeyID, o.Out, err)
		}
	}
	if o.JSON {
		if f != nil {
			k.Key = ""
		}
		return printJSON(cmd.OutOrStdout(), k)
	}
	if err := printCreatedKey(cmd.OutOrStdout(), k, o.Out); err != nil {
		return err
	}
	if o.Out == "" {
		fmt.Fprintln(cmd.ErrOrStderr(), "The key is shown once and cannot be retrieved again: store it now.")
	}
	return nil
}

// writeKey writes the key to f and closes it.
func writeKey(f *os.File, k *cairn.CreatedKey) error {
	if _, err := fmt.Fprintln(f, k.Key); err != nil {
		return err
	}
	return f.Close()
}

func newKeysListCmd(g *clientOptions) *cobra.Command {
	o := &jsonOption{g: g}
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the tenant's API keys (never their secrets)",
		Args:  cobra.NoArgs,
		RunE: g.run(func(cmd *cobra.Command, _ []string) error {
			c, ctx, cancel, err := o.g.session(cmd, true)
			if err != nil {
				return err
			}
			defer cancel()
			keys, err := collect(c.AllKeys(ctx, client.Page{Limit: 1000}), 0)
			if err != nil {
				return err
			}
			if o.JSON {
				return printJSON(cmd.OutOrStdout(), keys)
			}
			return printKeysTable(cmd.OutOrStdout(), keys)
		}),
	}
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print the keys as a JSON array")
	return cmd
}

func newKeysRevokeCmd(g *clientOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "revoke <key_id>",
		Short: "Revoke an API key",
		Args:  cobra.ExactArgs(1),
		RunE: g.run(func(cmd *cobra.Command, args []string) error {
			c, ctx, cancel, err := g.session(cmd, true)
			if err != nil {
				return err
			}
			defer cancel()
			if err := c.RevokeKey(ctx, args[0]); err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "revoked key %s\n", clean(args[0]))
			return err
		}),
	}
}

func printCreatedKey(w io.Writer, k *cairn.CreatedKey, out string) error {
	c := &card{w: w}
	c.line("Key ID", "%s", clean(k.KeyID))
	who := orDash(k.Principal)
	if k.Kind != "" {
		who += " (" + clean(k.Kind) + ")"
	}
	c.line("Principal", "%s", who)
	if k.Tenant != "" {
		c.line("Tenant", "%s", clean(k.Tenant))
	}
	c.line("Roles", "%s", clean(strings.Join(k.Roles, ", ")))
	if out != "" {
		c.line("Key", "written to %s", out)
	} else {
		c.line("Key", "%s", clean(k.Key))
	}
	return c.err
}

func printKeysTable(w io.Writer, keys []*cairn.Key) error {
	if len(keys) == 0 {
		_, err := fmt.Fprintln(w, "no keys")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY_ID\tPRINCIPAL\tKIND\tROLES\tTENANT\tCREATED\tCREATED_BY\tREVOKED")
	for _, k := range keys {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", clean(k.KeyID), orDash(k.Principal), orDash(k.Kind),
			orDash(strings.Join(k.Roles, ",")), orDash(k.Tenant), fmtTime(k.CreatedAt), orDash(k.CreatedBy), fmtTimePtr(k.RevokedAt))
	}
	return tw.Flush()
}
