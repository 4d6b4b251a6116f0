# Stand-ins for the Portage helpers and eclass functions that
# gentoo/app-portage/packdebug/*.ebuild calls, for test/ebuild.test.ts: an
# ebuild's phase functions run in bash with these and with the variables
# Portage sets (D, ED, EPREFIX, S, P, PN, PV, PF, ...). Each helper installs
# where Portage's bin/ebuild-helpers/* and the systemd eclass install, with
# their default modes (files 0644, executables and init scripts 0755,
# directories 0755), and dies on the mistakes Portage dies on (a helper given
# a path that already holds ${D} or ${EPREFIX}, a missing file, a directory
# without -r).
#
# Messages (einfo, elog, ewarn, optfeature) go to stdout as "LEVEL: text" so
# a test can read them. Nothing here is Portage's own code.

# Portage runs phases under umask 022: new directories are 0755.
umask 022

die() {
	echo "die: ${FUNCNAME[1]}: $*" >&2
	exit 1
}

inherit() { :; }

einfo() { echo "einfo: $*"; }
elog() { echo "elog: $*"; }
ewarn() { echo "ewarn: $*"; }
eerror() { echo "eerror: $*"; }
eqawarn() { echo "eqawarn: $*"; }

# No package is installed in the test's world.
has_version() { return 1; }

# optfeature.eclass: "optfeature DESCRIPTION PKG..." tells about optional
# packages that are not installed.
optfeature() {
	[[ $# -ge 2 ]] || die "optfeature needs a description and at least one package"
	local desc=${1}
	shift
	echo "optfeature: ${desc}: $*"
}

__E_INSDESTTREE=/
__E_EXEDESTTREE=/
__E_DOCDESTTREE=
INSOPTIONS=-m0644
EXEOPTIONS=-m0755

# Sets the variable named $1 to the path $2 given to a helper as it lands in
# the image: under ${ED}. (Not a $(...): die must end the phase, not a subshell.)
__image_path() {
	local p=${2}
	[[ ${p} == "${D%/}"/* || ${p} == "${D%/}" ]] && die "${FUNCNAME[1]}: do not pass \${D} or \${ED}: ${p}"
	[[ -n ${EPREFIX} && ${p} == "${EPREFIX}"/* ]] && die "${FUNCNAME[1]}: do not pass \${EPREFIX}: ${p}"
	printf -v "${1}" '%s/%s' "${ED%/}" "${p#/}"
}

# The mode of an -mMODE options string (insopts/exeopts); other options are ignored.
__mode_of() {
	local o
	for o in ${1}; do
		[[ ${o} == -m* ]] && { echo "${o#-m}"; return; }
	done
	echo 0644
}

insinto() { __E_INSDESTTREE=${1}; }
exeinto() { __E_EXEDESTTREE=${1}; }
docinto() { __E_DOCDESTTREE=${1}; }
insopts() { INSOPTIONS="$*"; }
exeopts() { EXEOPTIONS="$*"; }

dodir() {
	local d
	for d in "$@"; do
		local dir
		__image_path dir "${d}"
		mkdir -p "${dir}" || die "cannot create ${d}"
	done
}

keepdir() {
	local d
	for d in "$@"; do
		local dir
		dodir "${d}"
		__image_path dir "${d}"
		: >"${dir}/.keep_${CATEGORY}_${PN}-${SLOT%/*}" || die "cannot keep ${d}"
	done
}

# Copies SRC to DEST (a full path in the image) with MODE; a symlink stays a symlink.
__install_one() {
	local src=${1} dest=${2} mode=${3}
	mkdir -p "${dest%/*}" || die "cannot create ${dest%/*}"
	if [[ -L ${src} ]]; then
		ln -snf "$(readlink "${src}")" "${dest}" || die "cannot link ${dest}"
	elif [[ -f ${src} ]]; then
		install -m"${mode}" "${src}" "${dest}" || die "cannot install ${src}"
	elif [[ -e ${src} ]]; then
		die "${src} is not a regular file"
	else
		die "${src} does not exist"
	fi
}

# __put SRC DIR NAME MODE: SRC as DIR/NAME in the image (DIR as a helper takes it).
__put() {
	local dir
	__image_path dir "${2}"
	__install_one "${1}" "${dir%/}/${3}" "${4}"
}

# Copies the tree SRC into DESTDIR/basename(SRC), as doins -r does.
__install_tree() {
	local src=${1} destdir=${2} mode=${3} entry
	local dest=${destdir}/${src##*/}
	mkdir -p "${dest}" || die "cannot create ${dest}"
	for entry in "${src}"/* "${src}"/.[!.]* "${src}"/..?*; do
		[[ -e ${entry} || -L ${entry} ]] || continue
		if [[ -d ${entry} && ! -L ${entry} ]]; then
			__install_tree "${entry}" "${dest}" "${mode}"
		else
			__install_one "${entry}" "${dest}/${entry##*/}" "${mode}"
		fi
	done
}

doins() {
	local recursive="" x
	[[ ${1} == -r ]] && { recursive=1; shift; }
	[[ $# -ge 1 ]] || die "at least one argument needed"
	local destdir mode
	__image_path destdir "${__E_INSDESTTREE}"
	mode=$(__mode_of "${INSOPTIONS}")
	for x in "$@"; do
		if [[ -d ${x} && ! -L ${x} ]]; then
			[[ ${recursive} ]] || die "${x} is a directory (doins -r installs directories)"
			__install_tree "${x%/}" "${destdir%/}" "${mode}"
		else
			__install_one "${x}" "${destdir%/}/${x##*/}" "${mode}"
		fi
	done
}

newins() {
	[[ $# -eq 2 ]] || die "two arguments needed"
	__put "${1}" "${__E_INSDESTTREE}" "${2}" "$(__mode_of "${INSOPTIONS}")"
}

doexe() {
	[[ $# -ge 1 ]] || die "at least one argument needed"
	local x
	for x in "$@"; do
		__put "${x}" "${__E_EXEDESTTREE}" "${x##*/}" "$(__mode_of "${EXEOPTIONS}")"
	done
}

newexe() {
	[[ $# -eq 2 ]] || die "two arguments needed"
	__put "${1}" "${__E_EXEDESTTREE}" "${2}" "$(__mode_of "${EXEOPTIONS}")"
}

dobin() {
	local x
	for x in "$@"; do __put "${x}" /usr/bin "${x##*/}" 0755; done
}

newbin() {
	[[ $# -eq 2 ]] || die "two arguments needed"
	__put "${1}" /usr/bin "${2}" 0755
}

doinitd() {
	local x
	for x in "$@"; do __put "${x}" /etc/init.d "${x##*/}" 0755; done
}

newinitd() {
	[[ $# -eq 2 ]] || die "two arguments needed"
	__put "${1}" /etc/init.d "${2}" 0755
}

doconfd() {
	local x
	for x in "$@"; do __put "${x}" /etc/conf.d "${x##*/}" 0644; done
}

newconfd() {
	[[ $# -eq 2 ]] || die "two arguments needed"
	__put "${1}" /etc/conf.d "${2}" 0644
}

dodoc() {
	local recursive="" x
	[[ ${1} == -r ]] && { recursive=1; shift; }
	local destdir
	__image_path destdir "/usr/share/doc/${PF}/${__E_DOCDESTTREE#/}"
	for x in "$@"; do
		if [[ -d ${x} && ! -L ${x} ]]; then
			[[ ${recursive} ]] || die "${x} is a directory (dodoc -r installs directories)"
			__install_tree "${x%/}" "${destdir%/}" 0644
		else
			__install_one "${x}" "${destdir%/}/${x##*/}" 0644
		fi
	done
}

# man1 pages to /usr/share/man/man1, by the section the name ends with;
# NAME.ll.S (a language code) to /usr/share/man/ll/manS/NAME.S.
doman() {
	local x name section lang
	[[ $# -ge 1 ]] || die "at least one argument needed"
	for x in "$@"; do
		[[ -e ${x} ]] || die "${x} does not exist"
		name=${x##*/}
		section=${name##*.}
		section=${section:0:1}
		[[ ${section} == [0-9n] ]] || die "${x} is probably not a man page"
		lang=
		if [[ ${name} =~ ^(.*)\.([a-z][a-z](_[A-Z][A-Z])?)\.([^.]*)$ ]]; then
			lang=${BASH_REMATCH[2]}/
			name=${BASH_REMATCH[1]}.${BASH_REMATCH[4]}
		fi
		__put "${x}" "/usr/share/man/${lang}man${section}" "${name}" 0644
	done
}

# A path with . and .. resolved and repeated slashes dropped, on the text alone.
__canonical() {
	local IFS=/ part out=()
	for part in ${1}; do
		case ${part} in
			'' | .) ;;
			..) [[ ${#out[@]} -gt 0 ]] && unset 'out[${#out[@]}-1]' ;;
			*) out+=("${part}") ;;
		esac
	done
	echo "/${out[*]}"
}

# dosym [-r] TARGET LINK: LINK is created in the image; with -r the absolute
# TARGET becomes relative to LINK's directory (PMS, EAPI 8).
dosym() {
	local relative=
	[[ ${1} == -r ]] && { relative=1; shift; }
	[[ $# -eq 2 ]] || die "two arguments needed"
	local target=${1} link=${2}
	[[ ${link} == */ ]] && die "link omits its basename: ${link}"
	if [[ ${relative} ]]; then
		[[ ${target} == /* ]] || die "-r needs an absolute target: ${target}"
		local IFS=/
		local -a from to
		read -r -a to <<<"$(__canonical "${target}")"
		read -r -a from <<<"$(__canonical "${link%/*}")"
		unset IFS
		to=("${to[@]:1}")
		from=("${from[@]:1}")
		local i=0
		while [[ ${i} -lt ${#from[@]} && ${i} -lt ${#to[@]} && ${from[i]} == "${to[i]}" ]]; do
			i=$((i + 1))
		done
		local rel="" j
		for ((j = i; j < ${#from[@]}; j++)); do rel+=../; done
		rel+=$(IFS=/; echo "${to[*]:i}")
		target=${rel:-.}
		target=${target%/}
	fi
	local dest
	__image_path dest "${link}"
	mkdir -p "${dest%/*}" || die "cannot create ${dest%/*}"
	ln -snf "${target}" "${dest}" || die "cannot link ${link}"
}

fperms() {
	local mode=${1} x
	shift
	[[ $# -ge 1 ]] || die "a mode and at least one path needed"
	for x in "$@"; do
		local path
		__image_path path "${x}"
		chmod "${mode}" "${path}" || die "chmod ${mode} ${x}"
	done
}

fowners() {
	local owner=${1} x
	shift
	for x in "$@"; do
		local path
		__image_path path "${x}"
		chown "${owner}" "${path}" || die "chown ${owner} ${x}"
	done
}

# systemd.eclass: units under ${EPREFIX}/usr/lib/systemd/system.
systemd_get_systemunitdir() { echo "${EPREFIX}/usr/lib/systemd/system"; }

systemd_dounit() {
	local x
	for x in "$@"; do __put "${x}" /usr/lib/systemd/system "${x##*/}" 0644; done
}

systemd_newunit() {
	[[ $# -eq 2 ]] || die "two arguments needed"
	__put "${1}" /usr/lib/systemd/system "${2}" 0644
}
