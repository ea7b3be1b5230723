#!/usr/bin/env bash
# 42-grid-bad-specs: specs that cannot be used get an error naming file:line:column, exit 2,
# and start nothing (no run directory is made). `plan` shows the expansion order.
# Needs: $BATON_BUILD/baton. Bounded: a few seconds.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
need_build
make_tmp
expect_error() { # NAME EXPECTED_TEXT SPEC
  printf '%s' "$3" > "$tmp/$1.yaml"
  out=$("$B" grid "$tmp/$1.yaml" --local 2 --run-dir "$tmp/run-$1" 2>&1); rc=$?
  if [ "$rc" -ne 2 ] || ! grep -qF -- "$2" <<<"$out" || [ -e "$tmp/run-$1" ]; then
    fail "$1: exit $rc, output: $out"
  else
    pass "$1: $(head -1 <<<"$out")"
  fi
}
expect_error unknown-key "unknown-key.yaml:3:1: unknown key 'paramters'" $'command: [t]\nobjective: {metric: a}\nparamters: {a: [1]}\n'
expect_error empty-values "empty-values.yaml:4:6: parameter 'b' has no values" $'command: [t]\nparameters:\n  a: [1]\n  b: []\n'
expect_error placeholder "placeholder.yaml:1:14: placeholder {bs} names no parameter" $'command: [t, "{bs}"]\nparameters:\n  lr: [1]\n'
expect_error exclude "exclude.yaml:5:5: this 'exclude' entry (a=3) matches no config" $'command: [t]\nparameters:\n  a: [1, 2]\nexclude:\n  - {a: 3}\n'
expect_error duplicate "configs 1 and 3 are the same after expansion" $'command: [t]\nparameters:\n  a: [1, 2, 1]\n'
expect_error yaml "not valid YAML" $'command: [t\nparameters: {a: [1]}\n'

printf 'command: [train, --lr, "{lr}", --bs, "{bs}"]\nparameters:\n  lr: [0.1, 0.01]\n  bs: [16, 32]\n' > "$tmp/ok.yaml"
plan=$("$B" grid plan "$tmp/ok.yaml")
order=$(awk 'NR > 3 { print $3 "/" $4 }' <<<"$plan" | tr '\n' ' ')
if [ "$order" != "0.1/16 0.1/32 0.01/16 0.01/32 " ]; then fail "plan order: $order"; echo "$plan"; else pass "plan: $order"; fi
# A command that cannot be started is a config failure with the reason, after its retries
# (exit 127 from the wrapper, on every node it tried), not a node loss and not a hang.
printf 'command: [/nonexistent/baton-trainer, "{v}"]\nparameters:\n  v: [1]\nmax_retries: 1\n' > "$tmp/nocmd.yaml"
out=$(timeout 120 "$B" grid "$tmp/nocmd.yaml" --local 2 --run-dir "$tmp/run-nocmd" 2>&1); rc=$?
res=$("$B" grid results "$tmp/run-nocmd" 2>&1)
if [ "$rc" -ne 4 ] || ! grep -q "grid finished: 0 done, 1 failed" <<<"$out" || ! grep -q "exit code 127; no retries left (2 failures)" <<<"$out" \
   || ! grep -q "cannot start '/nonexistent/baton-trainer'" <<<"$res" || grep -q " lost" <<<"$out"; then
  fail "unstartable command: exit $rc"; echo "$out"; echo "$res"
else
  pass "unstartable command: failed after 2 attempts with the reason"
fi
finish
