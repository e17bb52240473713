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

var keysCmd = clientGroup(&cobra.Command{
	Use:   "keys",
	Short: "Create, list and revoke API keys (admin)",
})

var keysCreateCmd = &cobra.Command{
	Use:   "create --principal P --kind human|agent|service --role R [--role R]...",
	Short: "Create an API key; the key is shown once",
	Args:  cobra.NoArgs,
	RunE: run(func(cmd *cobra.Command, args []string) error {
		fl := cmd.Flags()
		var req cairn.CreateKeyRequest
		req.Principal, _ = fl.GetString("principal")
		req.Kind, _ = fl.GetString("kind")
		req.Roles, _ = fl.GetStringArray("role")
		req.Tenant, _ = fl.GetString("tenant")
		out, _ := fl.GetString("out")
		if !slices.Contains([]string{cairn.KindHuman, cairn.KindAgent, cairn.KindService}, req.Kind) {
			return usageError("--kind must be human, agent or service")
		}
		var roles []string
		for _, r := range req.Roles {
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
		req.Roles = roles
		var f *os.File
		if out != "" {
			// Create the file first so a key is never minted that cannot be stored.
			var err error
			if f, err = os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600); err != nil {
				if errors.Is(err, fs.ErrExist) {
					return usageError("--out %s already exists", out)
				}
				return err
			}
			defer f.Close()
		}
		c, err := newClient()
		if err != nil {
			if f != nil {
				os.Remove(out)
			}
			return err
		}
		ctx, cancel := commandContext(cmd, true)
		defer cancel()
		k, err := c.CreateKey(ctx, req)
		if err != nil {
			if f != nil {
				f.Close()
				os.Remove(out)
			}
			return err
		}
		if f != nil {
			if _, err := fmt.Fprintln(f, k.Key); err != nil {
				return fmt.Errorf("key %s was created but writing it to %s failed: %w", k.KeyID, out, err)
			}
			if err := f.Close(); err != nil {
				return fmt.Errorf("key %s was created but writing it to %s failed: %w", k.KeyID, out, err)
			}
		}
		if asJSON, _ := fl.GetBool("json"); asJSON {
			if f != nil {
				k.Key = ""
			}
			return printJSON(cmd.OutOrStdout(), k)
		}
		if err := printCreatedKey(cmd.OutOrStdout(), k, out); err != nil {
			return err
		}
		if out == "" {
			fmt.Fprintln(cmd.ErrOrStderr(), "The key is shown once and cannot be retrieved again: store it now.")
		}
		return nil
	}),
}

var keysListCmd = &cobra.Command{
	Use:   "list",
	Short: "List the tenant's API keys (never their secrets)",
	Args:  cobra.NoArgs,
	RunE: run(func(cmd *cobra.Command, args []string) error {
		c, err := newClient()
		if err != nil {
			return err
		}
		ctx, cancel := commandContext(cmd, true)
		defer cancel()
		keys, err := collect(c.AllKeys(ctx, client.Page{Limit: 1000}), 0)
		if err != nil {
			return err
		}
		if asJSON, _ := cmd.Flags().GetBool("json"); asJSON {
			return printJSON(cmd.OutOrStdout(), keys)
		}
		return printKeysTable(cmd.OutOrStdout(), keys)
	}),
}

var keysRevokeCmd = &cobra.Command{
	Use:   "revoke <key_id>",
	Short: "Revoke an API key",
	Args:  cobra.ExactArgs(1),
	RunE: run(func(cmd *cobra.Command, args []string) error {
		c, err := newClient()
		if err != nil {
			return err
		}
		ctx, cancel := commandContext(cmd, true)
		defer cancel()
		if err := c.RevokeKey(ctx, args[0]); err != nil {
			return err
		}
		_, err = fmt.Fprintf(cmd.OutOrStdout(), "revoked key %s\n", clean(args[0]))
		return err
	}),
}

func init() {
	f := keysCreateCmd.Flags()
	f.String("principal", "", "principal id the key acts as (required)")
	f.String("kind", "", "principal kind: human, agent or service (required)")
	f.StringArray("role", nil, "role: "+strings.Join(cairn.AllRoles, ", ")+" (repeatable)")
	f.String("tenant", "", "tenant (default: the caller's)")
	f.String("out", "", "write the key to this new file (mode 0600) instead of printing it")
	f.Bool("json", false, "print the created key as JSON")
	_ = keysCreateCmd.MarkFlagRequired("principal")
	_ = keysCreateCmd.MarkFlagRequired("kind")
	keysListCmd.Flags().Bool("json", false, "print the keys as a JSON array")
	keysCmd.AddCommand(keysCreateCmd, keysListCmd, keysRevokeCmd)
	rootCmd.AddCommand(keysCmd)
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
