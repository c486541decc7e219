/* The feddiff subcommands. Each takes the arguments after its name and returns an exit code. */
#ifndef FEDDIFF_APP_COMMANDS_H
#define FEDDIFF_APP_COMMANDS_H

int fd_cmd_version(int argc, char **argv);
int fd_cmd_bench(int argc, char **argv);
int fd_cmd_config(int argc, char **argv);
int fd_cmd_train(int argc, char **argv);
int fd_cmd_sample(int argc, char **argv);
int fd_cmd_partition(int argc, char **argv);
int fd_cmd_info(int argc, char **argv);
int fd_cmd_evaluator(int argc, char **argv);
int fd_cmd_eval(int argc, char **argv);

#endif
