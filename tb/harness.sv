// Test harness for the decompressor (or, with COMPRESSOR defined, the compressor): feeds
// the DUT from vector files at full simulation speed, with random stalls on
// every stream, and checks every output word in order.
//
// Commands (cmd file, one CMD_BITS-bit hex word per line): [IN_BITS-1:0] the input stream's
// payload without `last` (payload words, or values for the compressor; for the multi-lane top
// IN_WORDS words and their count), [IN_BITS] last, [IN_BITS+13:IN_BITS+1] table address,
// [IN_BITS+14] 1 = table write, 0 = input stream; a table write's data is bits [31:0]. With
// one word per beat that is [31:0] data, [32] last, [45:33] address, [46] table write. Expected outputs (exp file, one 64-bit hex word per line): the DUT's output
// payload ({last, value}, or {last, word} for the compressor; a beat for the multi-lane tops:
// with COMPRESSOR_BEATS as well, the compressor takes beats of values and their count in
// cmd[BEAT_BITS-1:0], IN_BITS = max(32, BEAT_BITS), so that a table write's data fits). cocotb writes the files, sets
// n_cmd / n_exp and pulses `load`; the harness reads the files, runs, and raises `done`.
`default_nettype none
// The modules driven, by name: the Amaranth tops' own Verilog by default; the exported tops'
// adapters (tb/export_adapter.sv) when tb.verilator.Harness is given exported sources.
`ifndef DUT_DECOMPRESSOR
`define DUT_DECOMPRESSOR ansnum_decompressor
`endif
`ifndef DUT_COMPRESSOR
`define DUT_COMPRESSOR ansnum_compressor
`endif
module harness #(
    parameter VALUE_BITS = 16,
`ifdef COMPRESSOR
    parameter OUT_BITS = 33,
`else
    parameter OUT_BITS = VALUE_BITS + 1,
`endif
    parameter IN_BITS = 32,     // input payload without `last` (multi-lane: words and count)
    parameter BEAT_BITS = 32,   // (COMPRESSOR_BEATS) values and count in cmd[BEAT_BITS-1:0]
    parameter CMD_BITS = 64,
    parameter CMD_DEPTH = 1 << 24,
    parameter EXP_DEPTH = 1 << 24,
    parameter EXP_BITS = 64     // width of an expected output (multi-lane: a beat)
) (
    input  wire        clk,
    input  wire        rst,
    input  wire        load,
    input  wire [31:0] n_cmd,
    input  wire [31:0] n_exp,
    input  wire [7:0]  in_stall,     // probability of a valid bubble, /256
    input  wire [7:0]  out_stall,    // probability of ready low, /256
    input  wire [31:0] seed,
    output reg         done,
    output reg         hung,         // no transfer for 100000 cycles
    output reg  [31:0] received,
    output reg  [31:0] mismatches,
    output reg  [31:0] first_bad,
    output reg  [31:0] first_got,    // the value received at first_bad
    output reg  [31:0] errors,       // tensors that ended with status.error
    output reg  [63:0] cycles,
    output reg  [63:0] busy_cycles,  // cycles with status.busy
    output reg  [63:0] out_cycles,   // cycles with an output transfer
    output reg  [63:0] in_first,     // cycle of the first input-stream transfer
    output reg  [63:0] in_last,      // cycle of the last one
    output reg  [31:0] in_count      // input-stream transfers
);
    reg [CMD_BITS-1:0] cmd_mem [0:CMD_DEPTH-1];
    reg [EXP_BITS-1:0] exp_mem [0:EXP_DEPTH-1];
    string cmd_file, exp_file;
    initial begin
        if (!$value$plusargs("cmd=%s", cmd_file)) cmd_file = "cmd.hex";
        if (!$value$plusargs("exp=%s", exp_file)) exp_file = "exp.hex";
    end

    reg running;
    reg [31:0] ci, ei;
    reg [31:0] rnd;
    reg [16:0] idle;
    reg [CMD_BITS-1:0] cmd;
    reg in_valid, out_ready;

    wire        in_ready, table_ready, out_valid;
    wire [OUT_BITS-1:0] out_payload;
    wire [5:0]  status;
    wire        is_table = cmd[IN_BITS+14];
    wire [12:0] table_addr = cmd[IN_BITS+13:IN_BITS+1];
    wire        fire_in  = in_valid & (is_table ? table_ready : in_ready);
    wire        fire_out = out_valid & out_ready;

`ifdef COMPRESSOR
    `DUT_COMPRESSOR dut (
        .clk(clk), .rst(rst),
        .values__valid(in_valid & ~is_table), .values__ready(in_ready),
`ifdef COMPRESSOR_BEATS
        .values__payload({cmd[IN_BITS], cmd[BEAT_BITS-1:0]}),
`else
        .values__payload({cmd[32], cmd[VALUE_BITS-1:0]}),
`endif
        .table__valid(in_valid & is_table), .table__ready(table_ready),
        .table__payload({cmd[31:0], table_addr}),
        .words__valid(out_valid), .words__ready(out_ready),
        .words__payload(out_payload),
        .status(status)
    );
`else
    `DUT_DECOMPRESSOR dut (
        .clk(clk), .rst(rst),
        .words__valid(in_valid & ~is_table), .words__ready(in_ready),
        .words__payload(cmd[IN_BITS:0]),
        .table__valid(in_valid & is_table), .table__ready(table_ready),
        .table__payload({cmd[31:0], table_addr}),
        .values__valid(out_valid), .values__ready(out_ready),
        .values__payload(out_payload),
        .status(status)
    );
`endif

    reg error_q;
    reg [4:0] tail;   // cycles after the last expected value, to catch extra outputs
    always @(posedge clk) begin
        rnd <= {rnd[30:0], rnd[31] ^ rnd[21] ^ rnd[1] ^ rnd[0]};
        if (rst) begin
            running <= 0; done <= 0; hung <= 0; in_valid <= 0; out_ready <= 0; error_q <= 0;
            rnd <= 32'h1;
        end else if (load) begin
            $readmemh(cmd_file, cmd_mem);
            $readmemh(exp_file, exp_mem);
            running <= 1; done <= 0; hung <= 0; ci <= 0; ei <= 0; idle <= 0; tail <= 0;
            received <= 0; mismatches <= 0; first_bad <= 32'hFFFFFFFF; errors <= 0;
            cycles <= 0; busy_cycles <= 0; out_cycles <= 0; in_valid <= 0; out_ready <= 0;
            in_count <= 0; in_first <= 0; in_last <= 0;
            rnd <= seed | 32'h1;
        end else if (running) begin
            cycles <= cycles + 1;
            busy_cycles <= busy_cycles + status[0];
            error_q <= status[1];
            if (status[1] & ~error_q) errors <= errors + 1;
            // input: valid holds until the transfer; a new command may start after a bubble
            if (fire_in & ~is_table) begin
                if (in_count == 0) in_first <= cycles;
                in_last <= cycles;
                in_count <= in_count + 1;
            end
            if (!in_valid || fire_in) begin
                if (fire_in) ci <= ci + 1;
                if ((fire_in ? ci + 1 : ci) < n_cmd && rnd[7:0] >= in_stall) begin
                    in_valid <= 1;
                    cmd <= cmd_mem[fire_in ? ci + 1 : ci];
                end else
                    in_valid <= 0;
            end
            out_ready <= rnd[15:8] >= out_stall;
            if (fire_out) begin
                out_cycles <= out_cycles + 1;
                if (out_payload != exp_mem[ei][OUT_BITS-1:0]) begin
                    mismatches <= mismatches + 1;
                    if (first_bad == 32'hFFFFFFFF) begin
                        first_bad <= ei;
                        first_got <= out_payload[31:0];
                    end
                end
                ei <= ei + 1;
                received <= received + 1;
            end
            idle <= (fire_in | fire_out) ? 0 : idle + 1;
            if (idle == 100000) begin hung <= 1; done <= 1; running <= 0; end
            if (ei >= n_exp && ci >= n_cmd && !status[0]) tail <= tail + 1;
            if (tail == 16) begin done <= 1; running <= 0; end
        end
    end
endmodule
