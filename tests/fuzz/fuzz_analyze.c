/*
 * Fuzz target: the CSV reader of `trainctl analyze` (src/cli/monitor.c),
 * on a whole file (the header, quoted fields, cut lines, bad numbers), and
 * the grouping and statistics that analyze computes from it. The reader's functions are static, so the file is included here.
 */
#include "cli/monitor.c" /* NOLINT(bugprone-suspicious-include): its statics are the target */

/* The command table lives in main.c, which is not linked here; help needs one. */
const struct cmd_entry *const cmd_table[] = { &cmd_monitor, &cmd_analyze, NULL };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mon_data d = { .path = "fuzz.csv" };
	struct err err = { 0 };
	FILE *f = fmemopen((void *)data, size, "r");
	struct series_summary sum;
	struct sample *all;
	size_t nall = 0;

	if (!f)
		return 0;
	if (data_read(&d, f, &err) == 0) {
		data_group(&d);
		all = data_overall(&d, &nall);
		stats_summarize(all, nall, &sum);
		free(all);
	}
	fclose(f);
	data_release(&d);
	return 0;
}
