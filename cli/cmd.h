/* cmd.h -- the subcommands of `ashiato`, one file each (cmd_<name>.c).
 * Owns:  their entry points: int cmd_<name>(int argc, char **argv), argv[0] = the name.
 *        Each prints its own --help, errors on stderr, and returns the exit status.
 * Never: shares state between subcommands. */
#ifndef ASHIATO_CMD_H
#define ASHIATO_CMD_H

#include "ashiato.h"

int cmd_keygen(int argc, char **argv);
int cmd_pcap(int argc, char **argv);
int cmd_detect(int argc, char **argv);
/* the HTTP API's commands (cmd_query.c, cmd_api_pcap.c, cmd_sensors.c, cmd_fields.c,
 * cmd_user.c); `pcap` goes through cmd_pcap_dispatch: --sensor is the direct mode */
int cmd_query(int argc, char **argv);
int cmd_pcap_dispatch(int argc, char **argv);
int cmd_sensors(int argc, char **argv);
int cmd_fields(int argc, char **argv);
int cmd_user(int argc, char **argv);
int cmd_alerts(int argc, char **argv);     /* cmd_alerts.c: alerts.json */

#endif
