using System.Diagnostics;
using OtSensor.Cli.Commands;
using OtSensor.Detection;
using Xunit;

namespace OtSensor.Tests.Detection;

public class BaselineTests
{
    public static readonly string[] AttackTypes =
    [
        "coap_new_resource", "modbus_write_new_range", "modbus_write_unauthorized_master", "modbus_write_value_out_of_range",
        "mqtt_new_client", "mqtt_new_topic", "new_asset", "new_function_code", "new_link", "new_protocol", "polling_cycle_deviation",
        "process_value_out_of_range",
    ];

    private static string Plant(string name) => DetectionHarness.Attack($"plant_{name}.pcap");

    private static void Learn(string store)
    {
        using var s = AlertStore.Open(store);
        DetectionHarness.Run(Plant("normal"), store: s, mode: BaselineMode.Learn);
    }

    [Fact]
    public void LaterBenignTraffic_AfterLearningAndLock_RaisesNoAlert()
    {
        string db = DetectionHarness.TempStore();
        try
        {
            Learn(db);
            Assert.Equal(0, BaselineCommand.Lock(db, TextWriter.Null, TextWriter.Null));
            using var s = AlertStore.Open(db);
            var e = DetectionHarness.Run(Plant("later"), store: s, mode: BaselineMode.Auto);
            Assert.True(e.Protecting);
            Assert.Empty(e.Raised);
        }
        finally
        {
            DetectionHarness.DeleteStore(db);
        }
    }

    [Fact]
    public void AttackTraffic_AfterLearning_RaisesEachDeviationOnce()
    {
        string db = DetectionHarness.TempStore();
        try
        {
            Learn(db);
            using var s = AlertStore.Open(db);
            var e = DetectionHarness.Run(Plant("attack"), store: s, mode: BaselineMode.Protect);
            Assert.Equal(AttackTypes, DetectionHarness.Types(e));
            // Once per type and endpoints (aggregated).
            Assert.Equal(e.Raised.Count, e.Raised.Select(a => (a.Type, a.SrcIp, a.DstIp)).Distinct().Count());
            Assert.Equal(1, e.Raised.Count(a => a.Type != "coap_new_resource"
                && a.Type == "new_asset"));
            var rogue = Assert.Single(e.Raised, a => a.Type == "modbus_write_unauthorized_master");
            Assert.Equal("10.80.0.66", rogue.SrcIp);
            var value = Assert.Single(e.Raised, a => a.Type == "modbus_write_value_out_of_range");
            Assert.Equal("999", value.Evidence["value"]);
            Assert.Equal("10", value.Evidence["learned_min"]);
            Assert.Equal("20", value.Evidence["learned_max"]);
            Assert.Contains("10..20", value.Message, StringComparison.Ordinal);
            var poll = Assert.Single(e.Raised, a => a.Type == "polling_cycle_deviation");
            Assert.Equal("10.80.0.30", poll.SrcIp);
            var process = Assert.Single(e.Raised, a => a.Type == "process_value_out_of_range");
            Assert.Equal("5000", process.Evidence["value"]);
            Assert.Equal("3", process.Evidence["address"]);
        }
        finally
        {
            DetectionHarness.DeleteStore(db);
        }
    }

    [Fact]
    public void AutoMode_LearnsForTheConfiguredPacketTime_ThenProtects()
    {
        // 60 s of learning (packet time), then protection: the writes' values learned in the first minute are
        // 10..15 (the plant writes 10 + k % 11 every 10 s), so the later write of 16 is out of range; nothing is
        // raised from the baseline before the learning period ended.
        var o = new DetectionOptions { LearningHours = 60.0 / 3600 };
        var e = DetectionHarness.Run(Plant("later"), o, mode: BaselineMode.Auto);
        Assert.True(e.Protecting);
        Assert.Equal(60_000_000_000L, e.BaselineState.LearnUntilNs - e.BaselineState.LearnStartNs);
        var deviations = e.Raised.Where(a => a.Category is "baseline-deviation" or "process-deviation").ToList();
        Assert.All(deviations, a => Assert.True(a.FirstSeenNs > e.BaselineState.LearnUntilNs));
        var write = Assert.Single(deviations, a => a.Type == "modbus_write_value_out_of_range");
        Assert.Equal("16", write.Evidence["value"]);

        var attack = DetectionHarness.Run(Plant("attack"), o, mode: BaselineMode.Auto);
        Assert.True(attack.Protecting);
        Assert.Contains(attack.Raised, a => a.Type == "mqtt_new_client");
    }

    [Fact]
    public void Baseline_AndAlerts_PersistAcrossProcessRestarts()
    {
        string db = DetectionHarness.TempStore();
        try
        {
            Learn(db);
            long firstMax;
            using (var s = AlertStore.Open(db))
            {
                Assert.Equal(BaselineState.Learning, s.ReadBaselineState().Mode);
                Assert.True(s.ReadBaseline().ItemCount > 20);
                var e = DetectionHarness.Run(Plant("attack"), store: s, mode: BaselineMode.Protect);
                firstMax = e.Raised.Max(a => a.Id);
            }
            using (var s = AlertStore.Open(db, readOnly: true))
            {
                Assert.Equal(BaselineState.Protecting, s.ReadBaselineState().Mode);
                var stored = s.Query();
                Assert.Equal(firstMax, stored.Max(a => a.Id));
                Assert.Contains(stored, a => a.Type == "modbus_write_unauthorized_master" && a.SrcIp == "10.80.0.66");
            }
            // A second replay of the same traffic (same packet times) aggregates into the stored alerts.
            using (var s = AlertStore.Open(db))
            {
                var before = s.Query().ToDictionary(a => a.Id, a => a.Count);
                var e = DetectionHarness.Run(Plant("attack"), store: s, mode: BaselineMode.Auto);
                Assert.True(e.Protecting);
                var after = s.Query();
                Assert.Equal(before.Keys.Order(), after.Select(a => a.Id).Order());
                Assert.Contains(after, a => a.Count > before[a.Id]);
            }
        }
        finally
        {
            DetectionHarness.DeleteStore(db);
        }
    }

    [Fact]
    public void ExportImport_RoundTrips_AndTheImportedBaselineProtects()
    {
        string db = DetectionHarness.TempStore();
        string db2 = DetectionHarness.TempStore();
        string file = Path.GetTempFileName();
        string file2 = Path.GetTempFileName();
        try
        {
            Learn(db);
            Assert.Equal(0, BaselineCommand.Lock(db, TextWriter.Null, TextWriter.Null));
            Assert.Equal(0, BaselineCommand.Export(db, file, TextWriter.Null, TextWriter.Null));
            Assert.Equal(0, BaselineCommand.Reset(db, TextWriter.Null, TextWriter.Null));
            using (var s = AlertStore.Open(db)) Assert.Equal(0, s.ReadBaseline().ItemCount);
            Assert.Equal(0, BaselineCommand.Import(db2, file, TextWriter.Null, TextWriter.Null));
            Assert.Equal(0, BaselineCommand.Export(db2, file2, TextWriter.Null, TextWriter.Null));
            Assert.Equal(File.ReadAllText(file), File.ReadAllText(file2));

            using var s2 = AlertStore.Open(db2);
            Assert.Equal(BaselineState.Protecting, s2.ReadBaselineState().Mode);
            var e = DetectionHarness.Run(Plant("attack"), store: s2, mode: BaselineMode.Auto);
            Assert.Equal(AttackTypes, DetectionHarness.Types(e));
        }
        finally
        {
            DetectionHarness.DeleteStore(db);
            DetectionHarness.DeleteStore(db2);
            File.Delete(file);
            File.Delete(file2);
        }
    }

    [Fact]
    public void Import_RejectsAFileThatIsNotAnExport()
    {
        string db = DetectionHarness.TempStore();
        string file = Path.GetTempFileName();
        try
        {
            File.WriteAllText(file, """{ "format": "something-else" }""");
            var err = new StringWriter();
            Assert.Equal(1, BaselineCommand.Import(db, file, TextWriter.Null, err));
            Assert.Contains("otsensor-baseline", err.ToString(), StringComparison.Ordinal);
        }
        finally
        {
            DetectionHarness.DeleteStore(db);
            File.Delete(file);
        }
    }

    [Fact]
    public void Status_ReportsModeAndCounts()
    {
        string db = DetectionHarness.TempStore();
        try
        {
            Learn(db);
            var o = new StringWriter();
            Assert.Equal(0, BaselineCommand.Status(db, o, TextWriter.Null));
            Assert.Contains("baseline: learning", o.ToString(), StringComparison.Ordinal);
            Assert.Contains("assets 7", o.ToString(), StringComparison.Ordinal);
        }
        finally
        {
            DetectionHarness.DeleteStore(db);
        }
    }

    [Fact]
    public void Learning_RecordsEveryRegisterValueAndPollPeriod_AndASecondLearningRunAddsToThem()
    {
        // plant_normal: the HMI reads holding registers 0-9 of 10.80.0.20 every second for 120 s (values 100..200,
        // the extremes early) and writes register 50 every 10 s (values 10..20).
        static void Check(BaselineModel b, int runs)
        {
            for (ushort a = 0; a < 10; a++)
            {
                var r = b.Read[new RegisterKey(Core.IpAddr.Parse("10.80.0.20"), 1, a)];
                Assert.Equal((100, 200, 120L * runs), (r.Min, r.Max, r.Samples));
            }
            var w = b.Written[new RegisterKey(Core.IpAddr.Parse("10.80.0.20"), 1, 50)];
            Assert.Equal((10, 20, 12L * runs), (w.Min, w.Max, w.Samples));
            var poll = b.Polls[new PollKey(Core.IpAddr.Parse("10.80.0.10"), Core.IpAddr.Parse("10.80.0.20"), ProtocolId.Modbus, 3, 1, 0)];
            Assert.Equal((119L * runs, 119_000_000_000L * runs, 1_000_000_000L, 1_000_000_000L), (poll.Intervals, poll.SumNs, poll.MinNs, poll.MaxNs));
        }

        Check(DetectionHarness.Run(Plant("normal"), mode: BaselineMode.Learn).Baseline, 1);
        string db = DetectionHarness.TempStore();
        try
        {
            Learn(db);
            Learn(db);
            using var s = AlertStore.Open(db);
            Check(s.ReadBaseline(), 2);
        }
        finally
        {
            DetectionHarness.DeleteStore(db);
        }
    }

    [Fact]
    public void BaselineModel_JsonRoundTrip_IsExact()
    {
        var e = DetectionHarness.Run(Plant("normal"), mode: BaselineMode.Learn);
        string json = e.Baseline.ToJson();
        Assert.Equal(json, BaselineModel.FromJson(json).ToJson());
        Assert.Throws<FormatException>(() => BaselineModel.FromJson("""{ "links": ["1.2.3.4"] }"""));
    }

    /// <summary>
    /// The store keeps the baseline in the order its keys were learned (not sorted): that order must not depend on the
    /// number of workers, and the sorted form (export) must be what sorting the learned model gives.
    /// </summary>
    [Fact]
    public void StoredBaseline_IsInLearningOrder_WhateverTheWorkers_AndExportsSorted()
    {
        string[] files =
        [
            Plant("normal"), DetectionHarness.Attack("mqtt_policy.pcap"),
            Path.Combine(OtSensor.Tests.Differential.TestPaths.CapturesDir, "coap_libcoap.pcap"),
            Path.Combine(OtSensor.Tests.Differential.TestPaths.CapturesDir, "modbus_pymodbus.pcap"),
        ];
        string? first = null;
        foreach (int workers in new[] { 1, 2, 3 })
        {
            string db = DetectionHarness.TempStore();
            try
            {
                BaselineModel learned;
                using (var s = AlertStore.Open(db))
                    learned = DetectionHarness.Run(files, store: s, mode: BaselineMode.Learn, workers: workers).Baseline;
                string stored;
                using (var c = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={db};Mode=ReadOnly"))
                {
                    c.Open();
                    using var cmd = c.CreateCommand();
                    cmd.CommandText = "SELECT data FROM baseline WHERE id = 1;";
                    stored = (string)cmd.ExecuteScalar()!;
                }
                Assert.Equal(learned.ToJson(sorted: false), stored);
                first ??= stored;
                Assert.Equal(first, stored);
                // Read back: the same sets, so the same sorted form as the model that learned them.
                using (var s = AlertStore.Open(db))
                    Assert.Equal(learned.ToJson(), s.ReadBaseline().ToJson());
                Assert.Contains("|", stored, StringComparison.Ordinal);
            }
            finally
            {
                DetectionHarness.DeleteStore(db);
            }
        }
        // Not sorted in the store: at least one list of the learned model is out of order (else this test shows nothing).
        Assert.NotEqual(BaselineModel.FromJson(first!).ToJson(), first);
    }

    /// <summary>The store's UTF-8 form is exactly the unsorted JSON text, whatever the keys hold.</summary>
    [Fact]
    public void BaselineModel_Utf8Form_IsTheUnsortedJson()
    {
        var e = DetectionHarness.Run([Plant("normal"), DetectionHarness.Attack("mqtt_policy.pcap"), DetectionHarness.Attack("coap_amplification.pcap")], mode: BaselineMode.Learn);
        var m = e.Baseline;
        Assert.Equal(m.ToJson(sorted: false), System.Text.Encoding.UTF8.GetString(m.ToJsonUtf8()));

        var v6 = OtSensor.Core.IpAddr.Parse("2001:db8::ffff:10.0.0.1");
        var v4 = OtSensor.Core.IpAddr.Parse("255.255.255.254");
        var model = new BaselineModel();
        model.Assets[v6] = new OtSensor.Core.MacAddress(0xFFFF_FFFF_FFFFUL);
        model.Assets[v4] = new OtSensor.Core.MacAddress(0);
        model.Links.Add(new PairKey(v6, v4));
        model.Services.Add(new ServiceKey(v4, v6, 17, 65535, OtSensor.ProtocolId.Coap));
        model.Codes.Add(new CodeKey(v4, v6, OtSensor.ProtocolId.Modbus, -1));
        model.Writers.Add(new WriterKey(v4, v6, 255));
        model.Written[new RegisterKey(v6, 0, 65535)] = new ValueRange { Min = int.MinValue, Max = int.MaxValue, Samples = long.MaxValue };
        model.Read[new RegisterKey(v4, 7, 0)] = new ValueRange { Min = -5, Max = 0, Samples = 1 };
        model.Polls[new PollKey(v4, v6, OtSensor.ProtocolId.Mqtt, 3, 1, int.MaxValue)] = new PollStats { Intervals = 2, SumNs = long.MaxValue, MinNs = long.MinValue, MaxNs = 0 };
        foreach (var text in new[] { "10.0.0.1|plant/+/temp", "10.0.0.1|<script>&'\"", "::1|caf\u00e9|\u00fcser", "10.0.0.2|\u0001\u001f\u007f", "10.0.0.3|\ud83d\ude00 sensor", "" })
        {
            model.MqttTopics.Add(text);
            model.MqttClients.Add(text + "|u");
            model.CoapResources.Add(text + "|GET");
            model.Findings.Add("mqtt_sys_topic_access|" + text);
        }
        string expected = model.ToJson(sorted: false);
        Assert.Equal(expected, System.Text.Encoding.UTF8.GetString(model.ToJsonUtf8()));
        Assert.Equal(model.ToJson(), BaselineModel.FromJson(expected).ToJson());
        Assert.Equal("{\"assets\":[],\"links\":[],\"services\":[],\"codes\":[],\"writers\":[],\"written\":[],\"read\":[],\"polls\":[],\"mqtt_clients\":[],\"mqtt_topics\":[],\"coap_resources\":[],\"findings\":[]}",
            System.Text.Encoding.UTF8.GetString(new BaselineModel().ToJsonUtf8()));
    }

    [Fact]
    public void DetectionWithAllRules_CostsLittleOnTopOfTheReplay()
    {
        // A smoke check of the cost (not a benchmark): the detection stage's own time stays a small part of the run.
        var sw = Stopwatch.StartNew();
        var e = DetectionHarness.Run(Plant("normal"), mode: BaselineMode.Learn);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(20));
        Assert.NotNull(e);
    }
}
