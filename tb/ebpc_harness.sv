// Test harnesses for the EBPC encoder and decoder (Verilog exported from hdl.ebpc): they feed
// the DUT from vector files at full simulation speed, with random stalls on every stream, and
// check every output word in order. cocotb (tb/cocotb_ebpc.py) writes the files into the
// directory given by +dir=..., sets the counts and pulses `load`; the harness raises `done`.
//
// Files, one hex word a line:
//   encoder: in.hex {last, value[7:0]}; znz.hex and bpc.hex: the expected words {last, data}
//   decoder: count.hex n[23:0]; znz.hex and bpc.hex: the input words {last, data};
//            values.hex: the expected values {any, last, value} (any: compare only `last`,
//            for the values of a bad tensor); codes.hex: the expected status
//            code of each tensor (as it stands when the next count is taken, or at the end)
`default_nettype none

// a 32-bit Galois LFSR per stream, so that the stalls of one stream do not follow another's
module ebpc_lfsr (input wire clk, input wire load, input wire [31:0] seed, output reg [31:0] q);
    always @(posedge clk)
        if (load) q <= seed | 32'h1;
        else q <= q[0] ? (q >> 1) ^ 32'hA3000000 : q >> 1;
endmodule

module ebpc_encoder_harness #(parameter DEPTH = 1 << 22) (
    input  wire        clk,
    input  wire        rst,
    input  wire        load,
    input  wire [31:0] n_in,
    input  wire [31:0] n_znz,
    input  wire [31:0] n_bpc,
    input  wire [7:0]  in_stall,     // probability of a valid bubble, /256
    input  wire [7:0]  out_stall,    // probability of ready low, /256
    input  wire [31:0] seed,
    output reg         done,
    output reg         hung,         // no transfer for 100000 cycles
    output reg  [31:0] got_znz,
    output reg  [31:0] got_bpc,
    output reg  [31:0] bad_znz,      // words that differ from the expected (or come extra)
    output reg  [31:0] bad_bpc,
    output reg  [31:0] first_bad_znz,
    output reg  [31:0] first_bad_bpc,
    output reg  [63:0] cycles,
    output reg  [63:0] in_cycles     // cycles from the first value taken to the last
);
    reg [8:0] in_mem [0:DEPTH-1];
    reg [8:0] znz_mem [0:DEPTH-1];
    reg [8:0] bpc_mem [0:DEPTH-1];
    string dir;
    initial if (!$value$plusargs("dir=%s", dir)) dir = ".";

    wire [31:0] r_in, r_znz, r_bpc;
    ebpc_lfsr l0 (.clk(clk), .load(load), .seed(seed), .q(r_in));
    ebpc_lfsr l1 (.clk(clk), .load(load), .seed(seed ^ 32'h5bd1e995), .q(r_znz));
    ebpc_lfsr l2 (.clk(clk), .load(load), .seed(seed ^ 32'h1b873593), .q(r_bpc));

    reg running, in_valid, znz_ready, bpc_ready;
    reg [31:0] ii, zi, bi;
    reg [16:0] idle;
    reg [5:0] tail;
    reg [63:0] first_in;
    wire in_ready, znz_valid, bpc_valid;
    wire [8:0] znz_payload, bpc_payload;

    ebpc_encoder dut (
        .clk(clk), .rst(rst),
        .values__valid(in_valid), .values__ready(in_ready), .values__payload(in_mem[ii]),
        .znz__valid(znz_valid), .znz__ready(znz_ready), .znz__payload(znz_payload),
        .bpc__valid(bpc_valid), .bpc__ready(bpc_ready), .bpc__payload(bpc_payload));

    wire fire_in = in_valid & in_ready;
    wire fire_znz = znz_valid & znz_ready;
    wire fire_bpc = bpc_valid & bpc_ready;
    wire [31:0] ii_next = fire_in ? ii + 1 : ii;

    always @(posedge clk) begin
        if (rst) begin
            running <= 0; done <= 0; hung <= 0; in_valid <= 0; znz_ready <= 0; bpc_ready <= 0;
        end else if (load) begin
            $readmemh({dir, "/in.hex"}, in_mem);
            $readmemh({dir, "/znz.hex"}, znz_mem);
            $readmemh({dir, "/bpc.hex"}, bpc_mem);
            running <= 1; done <= 0; hung <= 0; ii <= 0; zi <= 0; bi <= 0; idle <= 0; tail <= 0;
            got_znz <= 0; got_bpc <= 0; bad_znz <= 0; bad_bpc <= 0;
            first_bad_znz <= 32'hffffffff; first_bad_bpc <= 32'hffffffff;
            cycles <= 0; in_cycles <= 0; first_in <= 0; in_valid <= 0;
        end else if (running) begin
            cycles <= cycles + 1;
            if (!in_valid || fire_in)
                in_valid <= (ii_next < n_in) && (r_in[7:0] >= in_stall);
            ii <= ii_next;
            if (fire_in && ii == 0) first_in <= cycles;
            if (fire_in) in_cycles <= cycles - first_in + 1;
            znz_ready <= r_znz[7:0] >= out_stall;
            bpc_ready <= r_bpc[7:0] >= out_stall;
            if (fire_znz) begin
                got_znz <= got_znz + 1; zi <= zi + 1;
                if (zi >= n_znz || znz_payload != znz_mem[zi]) begin
                    bad_znz <= bad_znz + 1;
                    if (first_bad_znz == 32'hffffffff) first_bad_znz <= zi;
                end
            end
            if (fire_bpc) begin
                got_bpc <= got_bpc + 1; bi <= bi + 1;
                if (bi >= n_bpc || bpc_payload != bpc_mem[bi]) begin
                    bad_bpc <= bad_bpc + 1;
                    if (first_bad_bpc == 32'hffffffff) first_bad_bpc <= bi;
                end
            end
            idle <= (fire_in | fire_znz | fire_bpc) ? 0 : idle + 1;
            if (idle == 100000) begin hung <= 1; done <= 1; running <= 0; end
            // all in and out: a few more cycles to catch words that should not come
            if (ii == n_in && zi >= n_znz && bi >= n_bpc) begin
                tail <= tail + 1;
                if (tail == 63) begin done <= 1; running <= 0; end
            end
        end
    end
endmodule

module ebpc_decoder_harness #(parameter DEPTH = 1 << 22) (
    input  wire        clk,
    input  wire        rst,
    input  wire        load,
    input  wire [31:0] n_count,
    input  wire [31:0] n_znz,
    input  wire [31:0] n_bpc,
    input  wire [31:0] n_values,
    input  wire [7:0]  in_stall,
    input  wire [7:0]  out_stall,
    input  wire [31:0] seed,
    output reg         done,
    output reg         hung,
    output reg  [31:0] got_values,
    output reg  [31:0] bad_values,
    output reg  [31:0] first_bad,
    output reg  [31:0] bad_codes,    // tensors whose status code is not the expected one
    output reg  [31:0] first_bad_code,
    output reg  [3:0]  code_at_first_bad,
    output reg  [31:0] errors,       // tensors that ended with status.error
    output reg  [63:0] cycles,
    output reg  [63:0] out_cycles    // cycles from the first value out to the last
);
    reg [23:0] count_mem [0:DEPTH-1];
    reg [8:0] znz_mem [0:DEPTH-1];
    reg [8:0] bpc_mem [0:DEPTH-1];
    reg [9:0] values_mem [0:DEPTH-1];
    reg [3:0] codes_mem [0:DEPTH-1];
    string dir;
    initial if (!$value$plusargs("dir=%s", dir)) dir = ".";

    wire [31:0] r_count, r_znz, r_bpc, r_out;
    ebpc_lfsr l0 (.clk(clk), .load(load), .seed(seed), .q(r_count));
    ebpc_lfsr l1 (.clk(clk), .load(load), .seed(seed ^ 32'h5bd1e995), .q(r_znz));
    ebpc_lfsr l2 (.clk(clk), .load(load), .seed(seed ^ 32'h1b873593), .q(r_bpc));
    ebpc_lfsr l3 (.clk(clk), .load(load), .seed(seed ^ 32'hcc9e2d51), .q(r_out));

    reg running, count_valid, znz_valid, bpc_valid, out_ready;
    reg [31:0] ci, zi, bi, vi;
    reg [16:0] idle;
    reg [5:0] quiet;
    reg [63:0] first_out;
    wire count_ready, znz_ready, bpc_ready, out_valid;
    wire [8:0] out_payload;
    wire [5:0] status;               // {code[3:0], error, busy}

    ebpc_decoder dut (
        .clk(clk), .rst(rst),
        .count__valid(count_valid), .count__ready(count_ready), .count__payload(count_mem[ci]),
        .znz__valid(znz_valid), .znz__ready(znz_ready), .znz__payload(znz_mem[zi]),
        .bpc__valid(bpc_valid), .bpc__ready(bpc_ready), .bpc__payload(bpc_mem[bi]),
        .values__valid(out_valid), .values__ready(out_ready), .values__payload(out_payload),
        .status(status));

    wire fire_count = count_valid & count_ready;
    wire fire_znz = znz_valid & znz_ready;
    wire fire_bpc = bpc_valid & bpc_ready;
    wire fire_out = out_valid & out_ready;
    wire [31:0] ci_next = fire_count ? ci + 1 : ci;
    wire [31:0] zi_next = fire_znz ? zi + 1 : zi;
    wire [31:0] bi_next = fire_bpc ? bi + 1 : bi;

    task check_code(input [31:0] t);
        begin
            if (status[5:2] != codes_mem[t]) begin
                bad_codes <= bad_codes + 1;
                if (first_bad_code == 32'hffffffff) begin
                    first_bad_code <= t; code_at_first_bad <= status[5:2];
                end
            end
            if (status[1]) errors <= errors + 1;
        end
    endtask

    always @(posedge clk) begin
        if (rst) begin
            running <= 0; done <= 0; hung <= 0; count_valid <= 0; znz_valid <= 0;
            bpc_valid <= 0; out_ready <= 0;
        end else if (load) begin
            $readmemh({dir, "/count.hex"}, count_mem);
            $readmemh({dir, "/znz.hex"}, znz_mem);
            $readmemh({dir, "/bpc.hex"}, bpc_mem);
            $readmemh({dir, "/values.hex"}, values_mem);
            $readmemh({dir, "/codes.hex"}, codes_mem);
            running <= 1; done <= 0; hung <= 0; ci <= 0; zi <= 0; bi <= 0; vi <= 0;
            idle <= 0; quiet <= 0; got_values <= 0; bad_values <= 0; first_bad <= 32'hffffffff;
            bad_codes <= 0; first_bad_code <= 32'hffffffff; code_at_first_bad <= 0;
            errors <= 0; cycles <= 0; out_cycles <= 0; first_out <= 0;
            count_valid <= 0; znz_valid <= 0; bpc_valid <= 0;
        end else if (running) begin
            cycles <= cycles + 1;
            if (!count_valid || fire_count)
                count_valid <= (ci_next < n_count) && (r_count[7:0] >= in_stall);
            if (!znz_valid || fire_znz)
                znz_valid <= (zi_next < n_znz) && (r_znz[7:0] >= in_stall);
            if (!bpc_valid || fire_bpc)
                bpc_valid <= (bi_next < n_bpc) && (r_bpc[7:0] >= in_stall);
            ci <= ci_next; zi <= zi_next; bi <= bi_next;
            out_ready <= r_out[7:0] >= out_stall;
            // a tensor's code stands until the next count is taken
            if (fire_count && ci != 0) check_code(ci - 1);
            if (fire_out) begin
                got_values <= got_values + 1; vi <= vi + 1;
                if (vi == 0) first_out <= cycles;
                out_cycles <= cycles - first_out + 1;
                if (vi >= n_values || out_payload[8] != values_mem[vi][8] ||
                    (!values_mem[vi][9] && out_payload[7:0] != values_mem[vi][7:0])) begin
                    bad_values <= bad_values + 1;
                    if (first_bad == 32'hffffffff) first_bad <= vi;
                end
            end
            idle <= (fire_count | fire_znz | fire_bpc | fire_out) ? 0 : idle + 1;
            if (idle == 100000) begin hung <= 1; done <= 1; running <= 0; end
            // everything sent and received: the last tensor's code once the decoder is idle
            if (ci == n_count && vi >= n_values && !status[0]) begin
                quiet <= quiet + 1;
                if (quiet == 63) begin
                    if (n_count != 0) check_code(n_count - 1);
                    done <= 1; running <= 0;
                end
            end else quiet <= 0;
        end
    end
endmodule
