"""Stage 3, report: the status a pass earns (conditions, counts, findings) and the Events its
transitions warrant, said once. Pure decisions; `Reporter` posts them through the port."""
