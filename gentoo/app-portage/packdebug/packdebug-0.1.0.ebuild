# Copyright 2026 Gentoo Authors
# Distributed under the terms of the GNU General Public License v2

EAPI=8

inherit optfeature systemd

DESCRIPTION="Block-seekable debug tarballs for Gentoo binhosts, served by debuginfod"
HOMEPAGE="https://github.com/packdebug/packdebug"
# The self-contained release tarball that `npm run release` writes: bundled
# JavaScript, no node_modules, nothing to build. `npm run release` also prints
# the DIST line of this tarball for the Manifest.
SRC_URI="https://github.com/packdebug/packdebug/releases/download/v${PV}/${P}.tar.xz"

# GPL-2+ for packdebug; the npm packages bundled into lib/ carry the others.
LICENSE="GPL-2+ Apache-2.0 BlueOak-1.0.0 ISC MIT"
SLOT="0"
# Plain JavaScript: no arch-specific code, only Node.js and xz(1) at run time.
KEYWORDS="~amd64 ~arm64 ~ppc64 ~riscv ~x86"

RDEPEND="
	>=net-libs/nodejs-20.19
	app-arch/xz-utils
"

src_install() {
	insinto /usr/lib/${PN}
	doins -r bin lib fixtures
	fperms +x /usr/lib/${PN}/bin/packdebug
	# The launcher finds ../lib from its real path; -r keeps the link relative,
	# so it is right under any EPREFIX.
	dosym -r /usr/lib/${PN}/bin/packdebug /usr/bin/packdebug

	# What `source` in /etc/portage/bashrc names (`packdebug snippet bashrc`).
	insinto /usr/share/${PN}
	doins hooks/packdebug.bashrc

	doman man/*.1
	dodoc README.md docs/*.md

	systemd_dounit services/packdebug-serve.service services/debuginfod.service
	newinitd services/packdebug-serve.initd packdebug-serve
	newconfd services/packdebug-serve.confd packdebug-serve
	newinitd services/debuginfod.initd debuginfod
	newconfd services/debuginfod.confd debuginfod
}

pkg_postinst() {
	optfeature "serving the tarballs with debuginfod (the debuginfod service)" "dev-libs/elfutils[debuginfod]"

	if [[ -z ${REPLACING_VERSIONS} ]]; then
		elog "To pack debug info as packages merge, add to ${EROOT}/etc/portage/bashrc:"
		elog "  source ${EPREFIX}/usr/share/${PN}/packdebug.bashrc"
		elog "and the output of 'packdebug snippet make.conf' to make.conf."
		elog "The OpenRC services run as the users packdebug and debuginfod: the"
		elog "comments in ${EPREFIX}/etc/init.d/{packdebug-serve,debuginfod} say how to add them."
		elog "'packdebug doctor' tells what each command needs and what is missing."
	fi
}
