# packdebug.bashrc -- pack split debug info into a seekable debuginfod tarball
# at merge time. Source it from /etc/portage/bashrc (see docs/hook.md):
#
#     source /path/to/packdebug/hooks/packdebug.bashrc
#
# packdebug_pre_pkg_preinst runs `${PACKDEBUG_BIN:-packdebug} hook` in the
# preinst phase (estrip is done, BUILD_ID is known), which writes
# ${ED}/usr/lib/debug/.tarball/${CATEGORY}/${PN}/${PF}-${BUILD_ID}-debug.tar.xz.
# It runs packdebug at most once per preinst, however often it is called.
#
# Phase hooks: this file never renames, wraps or calls a function of yours.
# It defines pre_pkg_preinst and post_pkg_preinst as one-line calls of
# packdebug_pre_pkg_preinst, and only where no function of that name exists
# (a saved environment may already hold these very lines). If you define
# both hooks yourself, call packdebug_pre_pkg_preinst from one of them
# (from a hook of yours it never hurts; it runs packdebug once) -- before
# or after this file is sourced, it does not matter. Why not wrap yours:
# Portage saves every function into the environment after each phase and
# sources the bashrc again over it in the next one, so a wrapper that kept
# your hook under another name would, once your hook wrapped it in turn,
# call your hook, which calls it, which calls your hook... (issue 10).
#
# Portage ignores the exit status of phase hooks: a failure is an ewarn and
# the merge goes on, unless PACKDEBUG_STRICT=1, which makes it `die`.
#
# The hook uses local variables, changes no shell option and runs packdebug
# in a subshell. It sets two marker variables: one when this file is sourced
# and one when packdebug has run (both hold the PID of the phase's shell).

# The process that sourced this file. Portage saves functions into the
# ebuild environment, and that environment travels inside binpkgs: on a
# binpkg client that never sourced this file, the saved hook must do
# nothing. (The marker is also saved, but with the binhost's PID.)
__PACKDEBUG_BASHRC_PID=$$

# The hook itself. Call it from your own pre_pkg_preinst or post_pkg_preinst.
packdebug_pre_pkg_preinst() {
	[[ ${EBUILD_PHASE-} == preinst ]] || return 0
	[[ ${__PACKDEBUG_BASHRC_PID-} == "$$" ]] || return 0
	# Once per preinst: it may be reached from both hooks and from yours.
	# Each phase is a new shell, so the PID tells this preinst from the one
	# of a saved environment.
	[[ ${__PACKDEBUG_PREINST_PID-} == "$$" ]] && return 0
	__PACKDEBUG_PREINST_PID=$$

	local IFS=$' \t\n'
	local __pd_strict=0 __pd_rc=0 __pd_what
	local -a __pd_cmd=()
	case ${PACKDEBUG_STRICT-} in
		1|[Yy][Ee][Ss]|[Tt][Rr][Uu][Ee]) __pd_strict=1 ;;
	esac
	# PACKDEBUG_BIN: a command, optionally with arguments (split on blanks).
	read -r -a __pd_cmd <<<"${PACKDEBUG_BIN:-packdebug}"
	__pd_what="${CATEGORY-}/${PF-}"

	if (( ${#__pd_cmd[@]} == 0 )) || ! type -P -- "${__pd_cmd[0]}" >/dev/null; then
		if (( __pd_strict )); then
			__packdebug_die "packdebug: '${__pd_cmd[0]-}' not found (install packdebug or set PACKDEBUG_BIN); PACKDEBUG_STRICT is set"
			return 1
		fi
		ewarn "packdebug: '${__pd_cmd[0]-}' not found (install packdebug or set PACKDEBUG_BIN):"
		ewarn "packdebug: the debug info of ${__pd_what} is merged without a debuginfod tarball"
		return 0
	fi

	# Portage keeps many of these as shell variables: export them to
	# packdebug only, in a subshell, so the phase's own state is unchanged.
	(
		export D ED EPREFIX T CATEGORY PN PF BUILD_ID FEATURES PORTAGE_BUILDDIR \
			EBUILD_PHASE SOURCE_DATE_EPOCH NOCOLOR NO_COLOR PORTAGE_COLORMAP \
			${!PACKDEBUG_@} 2>/dev/null
		exec "${__pd_cmd[@]}" hook
	) || __pd_rc=$?

	(( __pd_rc == 0 )) && return 0
	if (( __pd_strict )); then
		__packdebug_die "packdebug failed for ${__pd_what} (exit status ${__pd_rc}, PACKDEBUG_STRICT is set); see the messages above"
		return 1
	fi
	ewarn "packdebug failed for ${__pd_what} (exit status ${__pd_rc}): merging without a debuginfod tarball;"
	ewarn "set PACKDEBUG_STRICT=1 to stop the merge on such failures"
	return 0
}

__packdebug_die() {
	if declare -F die >/dev/null; then
		die "$@"
	else
		eerror "$@" 2>/dev/null || printf ' * %s\n' "$*" >&2
	fi
}

# Is function $1 exactly `$1() { $2; }`? (Compared without blanks, which
# bash versions print differently.)
__packdebug_defined_as() {
	local __pd_def
	__pd_def=$(declare -f "$1") || return 1
	__pd_def=${__pd_def//[[:space:]]/}
	[[ ${__pd_def} == "$1(){$2}" ]]
}

# An environment saved with an older packdebug.bashrc (say, a binpkg built
# before an upgrade)
# holds hooks that kept the user's function as __packdebug_user_<hook> and
# called it: give the user's function its name back and drop the wrapper.
__packdebug_undo_legacy_wrapper() {
	local __pd_hook=$1 __pd_def
	__packdebug_defined_as "${__pd_hook}" "__packdebug_chained_hook${__pd_hook}\"\$@\"" || return 0
	if __pd_def=$(declare -f "__packdebug_user_${__pd_hook}"); then
		eval "${__pd_hook}${__pd_def#"__packdebug_user_${__pd_hook}"}"
	else
		unset -f "${__pd_hook}"
	fi
	unset -f "__packdebug_user_${__pd_hook}"
}

# A copy of a legacy wrapper under another name (a user's hook that renamed
# it) still calls this; it now only runs packdebug, never a user function.
__packdebug_chained_hook() {
	packdebug_pre_pkg_preinst
}

__packdebug_undo_legacy_wrapper pre_pkg_preinst
__packdebug_undo_legacy_wrapper post_pkg_preinst
unset -f __packdebug_in_pre_hook __packdebug_install_hook __packdebug_undo_legacy_wrapper

# The hooks, only where the name is free: in pre_pkg_preinst (before the
# ebuild's pkg_preinst, as a hook of yours defined there would run) and, for
# when a pre_pkg_preinst defined later replaces that, in post_pkg_preinst.
declare -F pre_pkg_preinst >/dev/null || pre_pkg_preinst() { packdebug_pre_pkg_preinst; }
declare -F post_pkg_preinst >/dev/null || post_pkg_preinst() { packdebug_pre_pkg_preinst; }

# Opt-in (PACKDEBUG_INDEX=1 in make.conf or package.env): once a merge or an
# unmerge is done, the tarball tree under ${EROOT} is what debuginfod and
# mirrors serve; update its build-id index for this package's directory
# (docs/index-format.md). Several merges at once (emerge --jobs) take turns
# through the index's lock. A failure is an ewarn: the merge is done anyway.
packdebug_post_pkg_postinst() {
	[[ ${EBUILD_PHASE-} == postinst || ${EBUILD_PHASE-} == postrm ]] || return 0
	[[ ${__PACKDEBUG_BASHRC_PID-} == "$$" ]] || return 0
	case ${PACKDEBUG_INDEX-} in
		1|[Yy][Ee][Ss]|[Tt][Rr][Uu][Ee]) ;;
		*) return 0 ;;
	esac
	local IFS=$' \t\n'
	local -a __pd_cmd=()
	local __pd_tree="${EROOT:-${ROOT:-/}}"
	__pd_tree="${__pd_tree%/}/usr/lib/debug/.tarball"
	read -r -a __pd_cmd <<<"${PACKDEBUG_BIN:-packdebug}"
	(( ${#__pd_cmd[@]} )) && type -P -- "${__pd_cmd[0]}" >/dev/null || return 0
	[[ -d ${__pd_tree} ]] || return 0
	( exec "${__pd_cmd[@]}" index "${__pd_tree}" --only "${CATEGORY-}/${PN-}" >/dev/null ) ||
		ewarn "packdebug: the build-id index of ${__pd_tree} was not updated for ${CATEGORY-}/${PF-}"
	return 0
}
declare -F post_pkg_postinst >/dev/null || post_pkg_postinst() { packdebug_post_pkg_postinst; }
declare -F post_pkg_postrm >/dev/null || post_pkg_postrm() { packdebug_post_pkg_postinst; }

# Both names taken by hooks of yours that never reach packdebug: nothing
# would pack, silently. Say so in preinst, where the saved environment
# already holds the hooks your bashrc defines (before or after this line).
# "Reach" follows the functions the hooks name, three calls deep.
__packdebug_hooks_reach_it() {
	local __pd_text __pd_seen=' ' __pd_f __pd_depth
	__pd_text=$(declare -f pre_pkg_preinst post_pkg_preinst)
	for __pd_depth in 1 2 3; do
		[[ ${__pd_text} == *packdebug* ]] && return 0
		for __pd_f in $(compgen -A function); do
			[[ ${__pd_seen} != *" ${__pd_f} "* && ${__pd_text} == *"${__pd_f}"* ]] || continue
			__pd_seen+="${__pd_f} "
			__pd_text+=$(declare -f "${__pd_f}")
		done
	done
	[[ ${__pd_text} == *packdebug* ]]
}
if [[ ${EBUILD_PHASE-} == preinst ]] && declare -F ewarn pre_pkg_preinst post_pkg_preinst >/dev/null &&
	! __packdebug_hooks_reach_it; then
	ewarn "packdebug: pre_pkg_preinst and post_pkg_preinst are both your own and neither calls"
	ewarn "packdebug: packdebug_pre_pkg_preinst: ${CATEGORY-}/${PF-} gets no debuginfod tarball (docs/hook.md)"
fi
unset -f __packdebug_hooks_reach_it
