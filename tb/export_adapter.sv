// Adapters from the port names of tb/harness.sv (the Amaranth tops' own: words__*, values__*,
// table__*, status) to the clean ports of the exported tops (hdl/export.py: s_axis_*, m_axis_*,
// s_table_*, status_*). Wires only, so the harness checks the exported file itself.
// tb.verilator.Harness(sources=...) builds the harness with DUT_DECOMPRESSOR / DUT_COMPRESSOR
// naming these modules.
`ifdef COMPRESSOR
module export_compressor_adapter #(
    parameter VALUE_BITS = 16
) (
    input  wire                  clk,
    input  wire                  rst,
    input  wire                  values__valid,
    output wire                  values__ready,
    input  wire [VALUE_BITS:0]   values__payload,  // {last, value}
    input  wire                  table__valid,
    output wire                  table__ready,
    input  wire [44:0]           table__payload,   // {data[31:0], addr[12:0]}
    output wire                  words__valid,
    input  wire                  words__ready,
    output wire [32:0]           words__payload,   // {last, data}
    output wire [5:0]            status            // {code[3:0], error, busy}
);
    ansnum_compressor dut (
        .clk(clk), .rst(rst),
        .s_axis_tdata(values__payload[VALUE_BITS-1:0]), .s_axis_tlast(values__payload[VALUE_BITS]),
        .s_axis_tvalid(values__valid), .s_axis_tready(values__ready),
        .m_axis_tdata(words__payload[31:0]), .m_axis_tlast(words__payload[32]),
        .m_axis_tvalid(words__valid), .m_axis_tready(words__ready),
        .s_table_addr(table__payload[12:0]), .s_table_data(table__payload[44:13]),
        .s_table_valid(table__valid), .s_table_ready(table__ready),
        .status_busy(status[0]), .status_error(status[1]), .status_code(status[5:2])
    );
endmodule
`else
module export_decompressor_adapter #(
    parameter VALUE_BITS = 16
) (
    input  wire                  clk,
    input  wire                  rst,
    input  wire                  words__valid,
    output wire                  words__ready,
    input  wire [32:0]           words__payload,   // {last, data}
    input  wire                  table__valid,
    output wire                  table__ready,
    input  wire [44:0]           table__payload,   // {data[31:0], addr[12:0]}
    output wire                  values__valid,
    input  wire                  values__ready,
    output wire [VALUE_BITS:0]   values__payload,  // {last, value}
    output wire [5:0]            status            // {code[3:0], error, busy}
);
    ansnum_decompressor dut (
        .clk(clk), .rst(rst),
        .s_axis_tdata(words__payload[31:0]), .s_axis_tlast(words__payload[32]),
        .s_axis_tvalid(words__valid), .s_axis_tready(words__ready),
        .m_axis_tdata(values__payload[VALUE_BITS-1:0]), .m_axis_tlast(values__payload[VALUE_BITS]),
        .m_axis_tvalid(values__valid), .m_axis_tready(values__ready),
        .s_table_addr(table__payload[12:0]), .s_table_data(table__payload[44:13]),
        .s_table_valid(table__valid), .s_table_ready(table__ready),
        .status_busy(status[0]), .status_error(status[1]), .status_code(status[5:2])
    );
endmodule
`endif
