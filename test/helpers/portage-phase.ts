/**
 * A simulated Portage preinst phase for tests of hooks/packdebug.bashrc
 * (test/hook.test.ts, and test/release.test.ts with the released hook).
 */

/**
 * What ebuild.sh does around a pkg_preinst, reduced to what a hook sees:
 * Portage's message functions and die, the phase variables as unexported
 * shell variables (ED and EPREFIX read-only), the saved environment
 * (HARNESS_ENV) sourced before the bashrc (HARNESS_BASHRC), and
 * pre_/pkg_/post_ hooks called in order, each followed by the __qa_call
 * check that shell options and IFS are unchanged. Also reports any new or
 * changed global variable, except the bashrc's documented run-once marker
 * (__PACKDEBUG_PREINST_PID, the PID of the phase whose preinst packed).
 */
export const PREINST_HARNESS = [
  '#!/bin/bash',
  'einfo() { echo -e "$@" | while read -r; do echo " * $REPLY"; done >&2; }',
  'ewarn() { echo -e "$@" | while read -r; do echo " * $REPLY"; done >&2; }',
  'eerror() { echo -e "$@" | while read -r; do echo " * $REPLY"; done >&2; }',
  'die() {',
  '\teerror "ERROR: $CATEGORY/$PF failed ($EBUILD_PHASE phase):"',
  '\teerror "  $*"',
  '\texit 1',
  '}',
  'export -n D ED EPREFIX T CATEGORY PN PF BUILD_ID FEATURES PORTAGE_BUILDDIR EBUILD_PHASE',
  'declare -r ED EPREFIX',
  '[[ -n $HARNESS_ENV ]] && source "$HARNESS_ENV"',
  '[[ -n $HARNESS_BASHRC ]] && source "$HARNESS_BASHRC"',
  'if [[ -n $HARNESS_SAVE_ENV ]]; then',
  '\t{ declare -f; declare -p $(compgen -v | grep -E "^(__)?PACKDEBUG"); } >"$HARNESS_SAVE_ENV"',
  '\texit 0',
  'fi',
  '__state() {',
  '\tshopt -p; set +o; printf "IFS=%q\\n" "$IFS"',
  '\tdeclare -p | grep -Ev "^declare -[-a-zA-Z]* ' +
    '(BASH_[A-Z]*|FUNCNAME|_|PIPESTATUS|LINENO|RANDOM|SECONDS|EPOCHSECONDS|EPOCHREALTIME|SRANDOM|BASHPID|' +
    '__hook|__before|__PACKDEBUG_PREINST_PID)="',
  '}',
  'for __hook in pre_pkg_preinst pkg_preinst post_pkg_preinst; do',
  '\tdeclare -F "$__hook" >/dev/null || continue',
  '\t__before=$(__state)',
  '\t"$__hook"',
  '\t[[ $(__state) == "$__before" ]] || ' +
    '{ echo "QA: $__hook changed the shell state:"; diff <(echo "$__before") <(__state); }',
  'done',
  'echo "phase completed"',
  '',
].join('\n');
