# packdebug.bashrc -- pack split debug info into a seekable debuginfod tarball
# at merge time. Source it from /etc/portage/bashrc (see docs/hook.md):
#
#     source /path/to/packdebug/hooks/packdebug.bashrc
#
# In pre_pkg_preinst (estrip is done, BUILD_ID is known) this runs
# `${PACKDEBUG_BIN:-packdebug} hook`, which writes
# ${ED}/usr/lib/debug/.tarball/${CATEGORY}/${PN}/${PF}-${BUILD_ID}-debug.tar.xz.
#
# Existing hooks are kept: a pre_pkg_preinst (or post_pkg_preinst) defined
# before this file is sourced is renamed to __packdebug_user_pre_pkg_preinst
# and still runs, before packdebug. A pre_pkg_preinst defined *after* this
# file replaces ours; then post_pkg_preinst runs packdebug instead, unless
# that is redefined too -- in which case call `packdebug_pre_pkg_preinst`
# from your own pre_pkg_preinst.
#
# Portage ignores the exit status of phase hooks: a failure is an ewarn and
# the merge goes on, unless PACKDEBUG_STRICT=1, which makes it `die`.
#
# Nothing here changes the phase's shell state: only functions are defined
# (plus one marker variable, at source time); the hook uses local variables
# and runs packdebug in a subshell.

# The process that sourced this file. Portage saves functions into the
# ebuild environment, and that environment travels inside binpkgs: on a
# binpkg client that never sourced this file, the saved hook must do
# nothing. (The marker is also saved, but with the binhost's PID.)
__PACKDEBUG_BASHRC_PID=$$

# The hook itself. Call it from your own pre_pkg_preinst if you define one
# after sourcing this file and also override post_pkg_preinst.
packdebug_pre_pkg_preinst() {
	[[ ${EBUILD_PHASE-} == preinst ]] || return 0
	[[ ${__PACKDEBUG_BASHRC_PID-} == "$$" ]] || return 0

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

# Does pre_pkg_preinst (as it is now) run packdebug?
__packdebug_in_pre_hook() {
	local __pd_def
	__pd_def=$(declare -f pre_pkg_preinst) || return 1
	[[ ${__pd_def} == *__packdebug_chained_hook* || ${__pd_def} == *packdebug_pre_pkg_preinst* ]]
}

# Body of our pre_/post_pkg_preinst: the user's hook first (it may prepare
# the image), then packdebug. Returns the user's hook's status.
__packdebug_chained_hook() {
	local __pd_hook=$1 __pd_status=0
	shift
	if declare -F "__packdebug_user_${__pd_hook}" >/dev/null; then
		"__packdebug_user_${__pd_hook}" "$@" || __pd_status=$?
	fi
	case ${__pd_hook} in
		pre_pkg_preinst)
			packdebug_pre_pkg_preinst
			;;
		post_pkg_preinst)
			# Fallback for a pre_pkg_preinst defined after this file was
			# sourced (it replaced ours and does not call packdebug).
			__packdebug_in_pre_hook || packdebug_pre_pkg_preinst
			;;
	esac
	return "${__pd_status}"
}

# Installs our hook under the name $1, keeping an existing one as
# __packdebug_user_$1. Idempotent: sourcing this file again (Portage sources
# bashrc again in each phase, over the saved environment that already holds
# our functions) neither wraps our own hook nor loses the user's.
__packdebug_install_hook() {
	local __pd_hook=$1 __pd_def
	if __pd_def=$(declare -f "${__pd_hook}"); then
		[[ ${__pd_def} == *__packdebug_chained_hook* ]] && return 0
		eval "__packdebug_user_${__pd_hook}${__pd_def#"${__pd_hook}"}"
	else
		unset -f "__packdebug_user_${__pd_hook}"
	fi
	eval "${__pd_hook}() { __packdebug_chained_hook ${__pd_hook} \"\$@\"; }"
}

__packdebug_install_hook pre_pkg_preinst
__packdebug_install_hook post_pkg_preinst
