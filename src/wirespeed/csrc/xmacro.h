/* X-macros: each set of counters is one list of (enum name, Python name, meaning), as VPP
 * declares a node's counters; the enum and the name table both come from it, so they cannot
 * drift, and the table is checked against the enum when it is compiled. */
#ifndef WS_XMACRO_H
#define WS_XMACRO_H

#define WS_ENUM(e, name, doc) e,
#define WS_NAME(e, name, doc) name,
/* A name table for a list, and the check that it has one name per enum value. */
#define WS_NAME_TABLE(table, LIST, count)                         \
	static const char *table[] = { LIST(WS_NAME) };            \
	_Static_assert(sizeof(table) / sizeof(table[0]) == (count), \
		       #table " has one name per " #count " value")

#endif
