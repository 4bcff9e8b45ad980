package main

import "context"

func cmdAudit(ctx context.Context, env *cmdEnv, args []string) error {
	return notYet("audit", "the audit log")(ctx, env, args)
}

func cmdReceipt(ctx context.Context, env *cmdEnv, args []string) error {
	return notYet("receipt", "the audit log")(ctx, env, args)
}
