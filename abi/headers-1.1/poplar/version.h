/* SPDX-License-Identifier: MIT */
/**
 * poplar/version.h - ABI version numbers and symbol attributes.
 *
 * The plugin ABI is versioned MAJOR.MINOR.  A plugin built against 1.x loads
 * in every core 1.y with y >= x.  A minor release only appends: new
 * functions, new members at the end of size-tagged ops tables, new enum
 * values at the end of an enum.  Anything else bumps the major.
 *
 * Every declaration in these headers says the ABI minor it appeared in
 * ("Since: 1.0"), and libpoplar exports it in the version node of that
 * minor (POPLAR_1.0, POPLAR_1.1, ...).
 *
 * The two numbers below are the only place the ABI version is written:
 * the build reads them from this file (libpoplar's file name, the
 * pkg-config variables abi_major and abi_minor), so keep each a plain
 * number on its own #define line.
 */
#ifndef POPLAR_VERSION_H
#define POPLAR_VERSION_H

/** ABI major version these headers describe.  Since: 1.0 */
#define POPLAR_ABI_MAJOR 1
/** ABI minor version these headers describe.  Since: 1.0 */
#define POPLAR_ABI_MINOR 1

/**
 * POPLAR_TARGET_ABI_MINOR:
 * The ABI minor a plugin declares it needs.  Defaults to the headers' own
 * minor; define it lower before including any Poplar header (e.g. -D
 * POPLAR_TARGET_ABI_MINOR=0) to build with newer headers a plugin that
 * still loads in older 1.x cores, provided it uses only what that minor
 * has.
 * Since: 1.0
 */
#ifndef POPLAR_TARGET_ABI_MINOR
#define POPLAR_TARGET_ABI_MINOR POPLAR_ABI_MINOR
#endif

/** Marks a function exported by libpoplar.so.1.  Since: 1.0 */
#if defined(__GNUC__)
#define POPLAR_API __attribute__((visibility("default")))
#define POPLAR_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#define POPLAR_WARN_UNUSED __attribute__((warn_unused_result))
#else
#define POPLAR_API
#define POPLAR_PRINTF(fmt, args)
#define POPLAR_WARN_UNUSED
#endif

#ifdef __cplusplus
#define POPLAR_BEGIN_DECLS extern "C" {
#define POPLAR_END_DECLS }
#else
#define POPLAR_BEGIN_DECLS
#define POPLAR_END_DECLS
#endif

POPLAR_BEGIN_DECLS

/**
 * poplar_abi_version:
 * @major: (out) (optional): the ABI major of the running libpoplar
 * @minor: (out) (optional): the ABI minor of the running libpoplar
 *
 * Tells a plugin which ABI the core it is loaded into provides, so that it
 * can use a function newer than the headers it was built against only when
 * the core has it.
 *
 * Since: 1.0
 */
POPLAR_API void poplar_abi_version(unsigned *major, unsigned *minor);

POPLAR_END_DECLS

#endif /* POPLAR_VERSION_H */
