import type { Argv } from 'yargs';

export const hookCommand = {
  command: 'hook',
  describe:
    'run from /etc/portage/bashrc in pre_pkg_preinst (see hooks/packdebug.bashrc); settings from PACKDEBUG_* variables',
  builder: (y: Argv) =>
    y.epilog(
      'Reads D, ED, EPREFIX, CATEGORY, PN, PF, BUILD_ID, T, PORTAGE_BUILDDIR from the environment. See docs/hook.md.',
    ),
};
